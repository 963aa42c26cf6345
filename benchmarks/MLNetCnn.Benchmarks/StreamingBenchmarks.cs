// Training from real-sized image folders (issue 13): peak memory and streaming throughput.
//
//   dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- streaming [--images 100000] [--steps 6] [--batch 32] [--model resnet18] [--size 224]
//       [--small-images 256] [--ratio-images 1500] [--ratio-size 64] [--ratio-width 0.25] [--ratio-epochs 2] [--ratio-repeats 2] [--root DIR] [--parts peak,ratio]
//
// 1. Writes a folder of --images JPEGs (256 x 192, ten classes, drawn shapes) into a temp folder, and a
//    folder of --small-images like them; both are deleted at the end. With --root, the folders go
//    there, are kept, and a later run with the same --root reuses them.
// 2. (peak) Each in its own process (VmHWM is per process), the estimator trains --model at
//    3 x --size x --size with batch --batch for --steps steps (a small folder for as many epochs as that
//    takes): (a) streaming from the large folder
//    (ImageFolder.Load and the whole-set shuffle included), (b) in memory on the small folder,
//    (c) streaming from the small folder. (a) - (b) is what the data path of the large set costs beyond
//    the model, the optimizer and the activations; (c) / (b) compares the step rates.
// 3. (ratio) Throughput on a set small enough for both: --ratio-images JPEGs, ResNet-18 x --ratio-width
//    at --ratio-size, fitted in memory, streamed, and streamed through the cache, alternating,
//    --ratio-repeats times.
// Rates are images over the median step time (steps after the first of each epoch), so a pause of
// the process (another job's timing run on a shared machine) spoils one step, not the figure.
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Training;
using SkiaSharp;

internal static class StreamingBenchmarks
{
    public const string ChildCommand = "streaming-child";

    public static int Run(IReadOnlyDictionary<string, string> options)
    {
        int images = Arguments.Int(options, "images", 100_000);
        int smallImages = Arguments.Int(options, "small-images", 256);
        bool keep = options.ContainsKey("root");
        string root = options.GetValueOrDefault("root") ?? Path.Combine(Path.GetTempPath(), $"mlnetcnn-streaming-benchmark-{Environment.ProcessId}");
        Console.WriteLine($"streaming: {Environment.ProcessorCount} cores, ONEDNN_MAX_CPU_ISA={Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA") ?? "(library default)"}, folder {root}");
        try
        {
            var clock = Stopwatch.StartNew();
            long bytes = WriteFolder(Path.Combine(root, "large"), images, seed: 1);
            Console.WriteLine(FormattableString.Invariant($"{images} JPEGs ({bytes >> 20} MB) ready after {clock.Elapsed.TotalSeconds:F0} s"));
            WriteFolder(Path.Combine(root, "small"), smallImages, seed: 2);

            var parts = options.GetValueOrDefault("parts", "peak,ratio").Split(',');
            if (parts.Contains("peak"))
            {
                string[] common = { "--steps", options.GetValueOrDefault("steps", "6"), "--batch", options.GetValueOrDefault("batch", "32"), "--model", options.GetValueOrDefault("model", "resnet18"), "--size", options.GetValueOrDefault("size", "224") };
                var large = Child(common.Concat(new[] { "--folder", Path.Combine(root, "large"), "--mode", nameof(DataMode.Streaming) }));
                var inMemory = Child(common.Concat(new[] { "--folder", Path.Combine(root, "small"), "--mode", nameof(DataMode.InMemory) }));
                var streamed = Child(common.Concat(new[] { "--folder", Path.Combine(root, "small"), "--mode", nameof(DataMode.Streaming) }));
                Console.WriteLine(FormattableString.Invariant($"peak resident memory (VmHWM): streaming {images} images {large["vmhwm_mb"]:F0} MB, in memory {smallImages} images {inMemory["vmhwm_mb"]:F0} MB: the data path of the large set costs {large["vmhwm_mb"] - inMemory["vmhwm_mb"]:F0} MB beyond model, optimizer and activations"));
                Console.WriteLine(FormattableString.Invariant($"step rate: streaming {images} images {large["images_per_s"]:F2} img/s; {smallImages} images in memory {inMemory["images_per_s"]:F2} img/s, streamed {streamed["images_per_s"]:F2} img/s, ratio {streamed["images_per_s"] / inMemory["images_per_s"]:F3}"));
            }

            if (parts.Contains("ratio"))
            {
                Ratio(options, Path.Combine(root, "ratio"));
            }
        }
        finally
        {
            if (!keep && Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }

        return 0;
    }

    /// <summary>One measured fit in this process: prints a RESULT line the parent reads.</summary>
    public static int RunChild(IReadOnlyDictionary<string, string> options)
    {
        string folder = options["folder"];
        var mode = Enum.Parse<DataMode>(options["mode"]);
        int steps = Arguments.Int(options, "steps", 6);
        int batch = Arguments.Int(options, "batch", 32);
        int size = Arguments.Int(options, "size", 224);
        var ml = new MLContext(seed: 1);
        var clock = Stopwatch.StartNew();
        var data = ImageFolder.Load(ml, folder);
        double load = clock.Elapsed.TotalSeconds;
        double loadedPeak = Status("VmHWM") / 1024.0;
        using var cancel = new CancellationTokenSource();
        var stepTimes = new List<double>();
        var trainer = ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options
        {
            FeatureColumnName = ImageFolder.ImagePathColumnName,
            ImageShape = new ImageShape(3, size, size),
            Arch = options["model"],
            Epoch = (int)Math.Ceiling((double)steps * batch / data.ImageCount), // a small folder repeats until --steps steps ran
            BatchSize = batch,
            LearningRate = 0.01,
            Data = new DataOptions { Mode = mode },
            CancellationToken = cancel.Token,
            ProgressCallback = _ =>
            {
                stepTimes.Add(clock.Elapsed.TotalSeconds);
                if (stepTimes.Count == steps)
                {
                    cancel.Cancel();
                }
            },
        });
        ml.Log += (_, e) =>
        {
            if (e.Source.StartsWith(nameof(ImageClassificationTrainer), StringComparison.Ordinal) && e.RawMessage.StartsWith("training data", StringComparison.Ordinal))
            {
                Console.WriteLine($"  {e.RawMessage}");
            }
        };
        try
        {
            trainer.Fit(data.Data).Dispose();
        }
        catch (OperationCanceledException)
        {
        }

        double rate = batch / Stats.Median(stepTimes.Zip(stepTimes.Skip(1), (a, b) => b - a).ToList()); // steps 2..N: the first carries libtorch's lazy start
        Console.WriteLine(FormattableString.Invariant($"  {mode} {data.ImageCount} images: ImageFolder.Load {load:F1} s (peak resident memory then {loadedPeak:F0} MB), first step done at {stepTimes[0]:F1} s, {stepTimes.Count} steps of {batch}"));
        Console.WriteLine(FormattableString.Invariant($"RESULT vmhwm_mb={Status("VmHWM") / 1024.0:F1} images_per_s={rate:F3}"));
        return 0;
    }

    private static void Ratio(IReadOnlyDictionary<string, string> options, string folder)
    {
        int images = Arguments.Int(options, "ratio-images", 1500);
        int size = Arguments.Int(options, "ratio-size", 64);
        double width = double.Parse(options.GetValueOrDefault("ratio-width", "0.25"), CultureInfo.InvariantCulture);
        int epochs = Arguments.Int(options, "ratio-epochs", 2);
        int repeats = Arguments.Int(options, "ratio-repeats", 2);
        WriteFolder(folder, images, seed: 3);
        var ml = new MLContext(seed: 1);
        var data = ImageFolder.Load(ml, folder).Data;
        Console.WriteLine($"throughput: resnet18 x{width} at 3x{size}x{size}, {images} JPEGs, {epochs} epochs, batch 64, decode threads {new DataOptions().DecodeParallelism}");
        var modes = new (string Name, DataOptions Data)[]
        {
            ("in memory", new DataOptions { Mode = DataMode.InMemory }),
            ("streamed", new DataOptions { Mode = DataMode.Streaming }),
            ("streamed + cache", new DataOptions { Mode = DataMode.Streaming, CacheDecodedImages = true }),
        };
        var rates = modes.ToDictionary(m => m.Name, _ => new List<double[]>());
        for (int r = 0; r < repeats; r++)
        {
            foreach (var (name, mode) in modes)
            {
                var clock = Stopwatch.StartNew();
                var steps = new List<(int Epoch, long Seen, double Time)>();
                using var model = ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options
                {
                    FeatureColumnName = ImageFolder.ImagePathColumnName,
                    ImageShape = new ImageShape(3, size, size),
                    Arch = "resnet18",
                    WidthMultiplier = width,
                    Epoch = epochs,
                    BatchSize = 64,
                    Data = mode,
                    ProgressCallback = p => steps.Add((p.Epoch, p.ImagesSeen, clock.Elapsed.TotalSeconds)),
                }).Fit(data);

                // Per epoch: the median rate of its full steps after the first (the first follows the
                // previous epoch's validation, or libtorch's lazy start).
                var perEpoch = Enumerable.Range(1, epochs).Select(e => Stats.Median(steps.Zip(steps.Skip(1))
                    .Where(p => p.Second.Epoch == e && p.First.Epoch == e && p.Second.Seen - p.First.Seen == 64)
                    .Select(p => 64 / (p.Second.Time - p.First.Time)).ToList())).ToArray();
                rates[name].Add(perEpoch);
                Console.WriteLine(FormattableString.Invariant($"  repeat {r + 1}, {name}: epochs {string.Join(", ", perEpoch.Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))} img/s (median step); Fit {clock.Elapsed.TotalSeconds:F1} s"));
            }
        }

        for (int e = 0; e < epochs; e++)
        {
            double memory = Stats.Median(rates["in memory"].Select(v => v[e]).ToList());
            var line = modes.Skip(1).Select(m => FormattableString.Invariant($"{m.Name} {Stats.Median(rates[m.Name].Select(v => v[e]).ToList()):F0} img/s ({Stats.Median(rates[m.Name].Select(v => v[e]).ToList()) / memory:F3})"));
            Console.WriteLine(FormattableString.Invariant($"median epoch {e + 1}: in memory {memory:F0} img/s, {string.Join(", ", line)}"));
        }
    }

    /// <summary>Writes JPEGs of 256 x 192 into ten class folders (a class is a hue and a shape), skipping those already there; returns their bytes.</summary>
    private static long WriteFolder(string root, int count, int seed)
    {
        long total = 0;
        Parallel.For(0, count, i =>
        {
            string path = Path.Combine(root, $"class{i % 10}", $"{i:D6}.jpg");
            if (File.Exists(path))
            {
                Interlocked.Add(ref total, new FileInfo(path).Length);
                return;
            }

            var random = new Random(HashCode.Combine(seed, i));
            int label = i % 10;
            using var bitmap = new SKBitmap(256, 192);
            using (var canvas = new SKCanvas(bitmap))
            {
                var hue = SKColor.FromHsv(label * 36f, 60 + random.Next(30), 50 + random.Next(40));
                canvas.Clear(hue);
                using var paint = new SKPaint { IsAntialias = true, Color = SKColor.FromHsv(((label * 36) + 180) % 360, 80, 90) };
                float x = random.Next(40, 216), y = random.Next(40, 152), r = random.Next(15, 40);
                if (label % 2 == 0)
                {
                    canvas.DrawCircle(x, y, r, paint);
                }
                else
                {
                    canvas.DrawRect(x - r, y - r, 2 * r, 2 * r, paint);
                }
            }

            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var encoded = bitmap.Encode(SKEncodedImageFormat.Jpeg, 85);
            File.WriteAllBytes(path, encoded.ToArray());
            Interlocked.Add(ref total, encoded.Size);
        });

        return total;
    }

    private static Dictionary<string, double> Child(IEnumerable<string> arguments) => ChildProcess.Run(ChildCommand, arguments);

    /// <summary>A value in kB from /proc/self/status (VmHWM: peak resident memory).</summary>
    private static long Status(string key)
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(key + ":", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }
}
