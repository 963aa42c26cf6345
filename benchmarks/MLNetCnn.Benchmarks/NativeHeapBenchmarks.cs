// What NativeHeap's glibc settings (M_TRIM_THRESHOLD 2 GB, M_MMAP_THRESHOLD 1 GB) save while training.
//
//   dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- native-heap [--models small,resnet18] [--repeats 3] [--images 128]
//
// mallopt applies once per process, before libtorch's first allocation, so every run is a child process of its
// own: with the library's settings ("tuned") and with MLNETCNN_MALLOC_TUNING=off ("off"), alternating. The child
// builds vs-pytorch's setup (small: ResNet-18 x0.25 with the small-input stem on the 6,000 embedded Fashion-MNIST
// images, batch 128; resnet18: 3x224x224 random images, --images of them, batch 16), trains one epoch with
// ClassifierTrainer in float32 to warm up, then one more, and reports over that second epoch the system CPU time and
// the minor page faults of the process (/proc/self/stat) and the images/s.
using System.Globalization;
using MLNetCnn.Architectures.Runtime;
using MLNetCnn.Tricks.Training;

internal static class NativeHeapBenchmarks
{
    public const string ChildCommand = "native-heap-child";

    public static int Run(IReadOnlyDictionary<string, string> options)
    {
        int repeats = Arguments.Int(options, "repeats", 3);
        string images = options.GetValueOrDefault("images", "128");
        var models = options.GetValueOrDefault("models", "small,resnet18").Split(',');
        Console.WriteLine($"native-heap: host {VsPyTorch.HostLine()}");
        Console.WriteLine("each run a child process; ClassifierTrainer, float32, one warm-up epoch, then one measured epoch; tuned = the library's mallopt, off = MLNETCNN_MALLOC_TUNING=off; alternating");
        var table = new List<string>();
        foreach (string model in models)
        {
            var off = new List<Dictionary<string, double>>();
            var tuned = new List<Dictionary<string, double>>();
            for (int r = 1; r <= repeats; r++)
            {
                off.Add(Child(model, images, tuning: false));
                tuned.Add(Child(model, images, tuning: true));
                Console.WriteLine(FormattableString.Invariant($"  {model} repeat {r}: off {Describe(off[^1])}; tuned {Describe(tuned[^1])}"));
            }

            double Median(List<Dictionary<string, double>> runs, string key) => Stats.Median(runs.Select(x => x[key]).ToList());
            table.Add(FormattableString.Invariant(
                $"| {model} | {Median(off, "system_s"):F2} -> {Median(tuned, "system_s"):F2} | {Median(off, "minor_faults") / 1000:F0} k -> {Median(tuned, "minor_faults") / 1000:F0} k | {Median(off, "images_per_s"):F1} -> {Median(tuned, "images_per_s"):F1} | {Stats.Median(off.Zip(tuned, (o, t) => t["images_per_s"] / o["images_per_s"]).ToList()):F2}x |"));
        }

        Console.WriteLine("\n| model | system CPU s (off -> tuned) | minor page faults | images/s | median per-repeat speed ratio |");
        Console.WriteLine("|---|---|---|---|---|");
        table.ForEach(Console.WriteLine);
        return 0;
    }

    public static int RunChild(IReadOnlyDictionary<string, string> options)
    {
        var setup = VsPyTorch.Create(options["model"], Arguments.Int(options, "images", 128));
        using var network = setup.Create();
        var procedure = VsPyTorch.Procedure(setup) with { Epochs = 1 };
        new ClassifierTrainer(procedure).Fit(network, setup.Data); // primitives, caches, the heap's high-water mark
        var (system0, faults0) = ProcessStat();
        var history = new ClassifierTrainer(procedure).Fit(network, setup.Data);
        var (system1, faults1) = ProcessStat();
        bool tuned = NativeHeap.State?.StartsWith("glibc keeps", StringComparison.Ordinal) == true;
        Console.WriteLine(FormattableString.Invariant($"RESULT system_s={system1 - system0:R} minor_faults={faults1 - faults0} images_per_s={history[^1].ImagesPerSecond:R} tuned={(tuned ? 1 : 0)}"));
        return 0;
    }

    private static string Describe(Dictionary<string, double> run) =>
        FormattableString.Invariant($"{run["system_s"]:F2} s system, {run["minor_faults"] / 1000:F0} k faults, {run["images_per_s"]:F1} img/s");

    /// <summary>System CPU seconds and minor page faults of this process so far (fields 15 and 10 of /proc/self/stat).</summary>
    private static (double SystemSeconds, long MinorFaults) ProcessStat()
    {
        string stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // fields[0] is field 3 (state)
        const double ticksPerSecond = 100; // USER_HZ on Linux
        return (long.Parse(fields[12], CultureInfo.InvariantCulture) / ticksPerSecond, long.Parse(fields[7], CultureInfo.InvariantCulture));
    }

    private static Dictionary<string, double> Child(string model, string images, bool tuning)
    {
        var result = ChildProcess.Run(ChildCommand, new[] { "--model", model, "--images", images }, new Dictionary<string, string?> { ["MLNETCNN_MALLOC_TUNING"] = tuning ? null : "off" });
        if (result["tuned"] != (tuning ? 1 : 0))
        {
            throw new InvalidOperationException($"The child ran {(result["tuned"] == 1 ? "with" : "without")} the heap settings; the run asked for tuning {tuning}.");
        }

        return result;
    }
}
