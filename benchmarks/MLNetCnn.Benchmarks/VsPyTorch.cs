using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Runtime;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Schedules;
using MLNetCnn.Tricks.Training;
using static TorchSharp.torch;

/// <summary>
/// vs-pytorch: training images/s of the library (<c>ClassifierTrainer</c>, and the estimator's whole <c>Fit</c>)
/// against Debian's PyTorch 1.13 (<c>benchmarks/peers/pytorch_train.py</c>, run as a child process) on the same
/// model, batch, threads, optimizer and data, float32, the three contenders alternating in every repeat. Each
/// contender trains two epochs and the second is timed (the first creates oneDNN's primitives).
/// </summary>
internal static class VsPyTorch
{
    internal sealed record Setup(string Name, string Description, string PeerModel, ImageShape Shape, int Classes, int Batch, Func<ImageClassifier> Create, ImageDataset Data, IDataView View);

    public static int Run(IReadOnlyDictionary<string, string> options)
    {
        string python = options.GetValueOrDefault("python", "/usr/bin/python3");
        int repeats = int.Parse(options.GetValueOrDefault("repeats", "3"), CultureInfo.InvariantCulture);
        int threads = int.Parse(options.GetValueOrDefault("threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        int images224 = int.Parse(options.GetValueOrDefault("images", "128"), CultureInfo.InvariantCulture);
        var models = options.GetValueOrDefault("models", "small,resnet18,mobilenet_v2").Split(',');
        bool layouts = options.GetValueOrDefault("compare", string.Empty) == "layouts";
        string peer = FindPeer();
        set_num_threads(threads);

        Console.WriteLine($"vs-pytorch: host {HostLine()}");
        Console.WriteLine($"library: TorchSharp {typeof(TorchSharp.torch).Assembly.GetName().Version}, {KernelSelection.Current}; layout {TensorLayouts.Resolve(TensorLayout.Auto, TorchSharp.DeviceType.CPU, TrainingPrecision.Float32)}; torch threads {get_num_threads()}");
        Console.WriteLine($"peer: {python} {peer} (torch.set_num_threads({threads})); float32 everywhere; SGD momentum 0.9, weight decay 5e-4, cosine lr from 0.05; epoch 2 of 2 timed");
        var results = new List<string>();
        foreach (string name in models)
        {
            var setup = Create(name, images224);
            Console.WriteLine($"\n{setup.Name}: {setup.Description}, batch {setup.Batch}, {setup.Data.Count} images, {threads} threads");
            var trainer = new List<double>();
            var estimator = new List<double>();
            var pytorch = new List<double>();
            var first = new List<double>();
            var last = new List<double>();
            for (int r = 1; r <= repeats; r++)
            {
                if (layouts)
                {
                    // The layout comparison behind TensorLayouts.Resolve: ClassifierTrainer in each layout, alternating.
                    first.Add(TimeTrainer(setup, TensorLayout.ChannelsFirst));
                    last.Add(TimeTrainer(setup, TensorLayout.ChannelsLast));
                    Console.WriteLine(FormattableString.Invariant($"  repeat {r}: channels-first {first[^1]:F1} img/s, channels-last {last[^1]:F1} img/s, ratio {last[^1] / first[^1]:F2}"));
                    continue;
                }

                trainer.Add(TimeTrainer(setup, TensorLayout.Auto));
                estimator.Add(TimeEstimator(setup, out double fitTotal));
                pytorch.Add(TimePeer(python, peer, setup, threads));
                Console.WriteLine(FormattableString.Invariant($"  repeat {r}: ClassifierTrainer {trainer[^1]:F1} img/s, estimator Fit {estimator[^1]:F1} img/s in its epoch ({fitTotal:F1} s whole Fit), PyTorch {pytorch[^1]:F1} img/s; ratios {trainer[^1] / pytorch[^1]:F2} / {estimator[^1] / pytorch[^1]:F2}"));
            }

            if (layouts)
            {
                Console.WriteLine(FormattableString.Invariant($"  median: channels-first {Stats.Median(first):F1}, channels-last {Stats.Median(last):F1} img/s; per-repeat ratios median {Stats.Median(first.Zip(last, (f, l) => l / f).ToList()):F2}"));
                continue;
            }

            double t = Stats.Median(trainer), e = Stats.Median(estimator), p = Stats.Median(pytorch);
            string row = FormattableString.Invariant($"| {setup.Name} | {setup.Batch} | {threads} | {p:F1} | {t:F1} | **{t / p:F2}** | {e:F1} | **{e / p:F2}** |");
            results.Add(row);
            Console.WriteLine(FormattableString.Invariant($"  median: ClassifierTrainer {t:F1}, estimator {e:F1}, PyTorch {p:F1} img/s: {t / p:F2}x and {e / p:F2}x PyTorch"));
        }

        Console.WriteLine("\n| model | batch | threads | PyTorch 1.13 img/s | ClassifierTrainer img/s | ratio | estimator Fit img/s | ratio |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        results.ForEach(Console.WriteLine);
        return 0;
    }

    internal static Setup Create(string name, int images224)
    {
        var ml = new MLContext(seed: 1);
        if (name == "small")
        {
            var view = FashionMnist.Load(ml, FashionMnistSplit.Train, FashionMnistSource.Embedded);
            var rows = ml.Data.CreateEnumerable<Row>(view, reuseRowObject: false).ToList();
            var data = new ImageDataset(rows.SelectMany(r => r.Features).ToArray(), rows.Select(r => (int)r.Label - 1).ToArray(), FashionMnist.ImageShape, 10);
            return new Setup("small", "resnet18 x0.25, small-input stem, 1x28x28, embedded Fashion-MNIST", "small", FashionMnist.ImageShape, 10, 128,
                () => Network(ModelRegistry.Get("resnet18").Config with { Width = 0.25 }, data, new ArchitectureOptions { NumClasses = 10, InputChannels = 1, InputSize = 28, SmallInputStem = true }), data, view);
        }

        var shape = new ImageShape(3, 224, 224);
        var random = new Random(1);
        var pixels = new float[(long)images224 * shape.Size];
        for (long i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (float)(random.NextDouble() * 255);
        }

        var labels = Enumerable.Range(0, images224).Select(i => i % 1000).ToArray();
        var random224 = new ImageDataset(pixels, labels, shape, 1000);
        var columns = Enumerable.Range(0, images224).Select(i => new Row224 { Features = pixels.AsSpan(i * shape.Size, shape.Size).ToArray(), Label = (uint)labels[i] + 1 });
        var view224 = ml.Data.LoadFromEnumerable(columns, SchemaDefinition.Create(typeof(Row224)));
        return new Setup(name, $"{name} (published widths), 3x224x224 random images", name, shape, 1000, 16,
            () => Network(ModelRegistry.Get(name).Config, random224, new ArchitectureOptions { NumClasses = 1000, InputChannels = 3, InputSize = 224 }), random224, view224);
    }

    private static ImageClassifier Network(ArchitectureConfig config, ImageDataset data, ArchitectureOptions options)
    {
        manual_seed(1);
        var (mean, std, _, _) = data.Statistics();
        return new NormalizedClassifier(config.Create(options), new InputNormalization(mean, std));
    }

    internal static TrainerOptions Procedure(Setup setup) => new()
    {
        Epochs = 2,
        BatchSize = setup.Batch,
        LearningRate = 0.05,
        Schedule = new CosineSchedule(),
        Precision = TrainingPrecision.Float32,
        Device = ComputeDevice.Cpu,
    };

    private static double TimeTrainer(Setup setup, TensorLayout layout)
    {
        using var network = setup.Create();
        var history = new ClassifierTrainer(Procedure(setup) with { Layout = layout }).Fit(network, setup.Data);
        return history[^1].ImagesPerSecond;
    }

    private static double TimeEstimator(Setup setup, out double fitSeconds)
    {
        var ml = new MLContext(seed: 1);
        var procedure = Procedure(setup);
        var options = new ImageClassificationTrainer.Options { Training = procedure };
        options.Arch = setup.Name == "small" ? "resnet18" : setup.Name;
        options.WidthMultiplier = setup.Name == "small" ? 0.25 : 1.0;
        options.ImageShape = setup.Shape;
        var clock = Stopwatch.StartNew();
        using var model = ml.Cnn().ImageClassification(options).Fit(setup.View);
        fitSeconds = clock.Elapsed.TotalSeconds;
        return model.TrainingHistory[^1].ImagesPerSecond;
    }

    private static double TimePeer(string python, string script, Setup setup, int threads)
    {
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { script, "--model", setup.PeerModel, "--batch", setup.Batch.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture), "--images", setup.PeerModel == "small" ? "0" : setup.Data.Count.ToString(CultureInfo.InvariantCulture), "--data", DataFolder() })
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        string? line = output.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (process.ExitCode != 0 || line is null)
        {
            throw new InvalidOperationException($"The PyTorch peer failed (exit {process.ExitCode}): {errors}");
        }

        using var json = JsonDocument.Parse(line);
        return json.RootElement.GetProperty("images_per_second").GetDouble();
    }

    /// <summary>The CPU model and the ISA flags that matter here, as lscpu would show them.</summary>
    internal static string HostLine()
    {
        string model = "?";
        var flags = new List<string>();
        foreach (string l in File.ReadLines("/proc/cpuinfo"))
        {
            if (l.StartsWith("model name", StringComparison.Ordinal))
            {
                model = l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
            }
            else if (l.StartsWith("flags", StringComparison.Ordinal))
            {
                var all = l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
                flags = new[] { "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni" }.Select(f => all.Contains(f) ? f : "no " + f).ToList();
                break;
            }
        }

        return $"{model}, {Environment.ProcessorCount} cores, flags: {string.Join(" ", flags)}";
    }

    private static string FindPeer() => Path.Combine(RepoFolder(), "benchmarks", "peers", "pytorch_train.py");

    private static string DataFolder() => Path.Combine(RepoFolder(), "data", "fashion-mnist-subset");

    private static string RepoFolder()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "benchmarks", "peers", "pytorch_train.py")))
            {
                return d.FullName;
            }
        }

        throw new FileNotFoundException("benchmarks/peers/pytorch_train.py not found above " + AppContext.BaseDirectory);
    }

    private sealed class Row224
    {
        [VectorType(3 * 224 * 224)]
        public float[] Features { get; set; } = Array.Empty<float>();

        [KeyType(1000)]
        public uint Label { get; set; }
    }
}
