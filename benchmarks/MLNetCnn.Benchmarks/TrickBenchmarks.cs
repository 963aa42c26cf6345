using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Recipes;
using MLNetCnn.Tricks.Regularization;
using MLNetCnn.Tricks.Schedules;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Training;
using static TorchSharp.torch;

/// <summary>
/// precision: training images/s in float32 and bfloat16 (float32 master weights), alternating in one process.
/// tricks-ablation: Bag of Tricks Table 6 on full Fashion-MNIST, each row adding one trick, several seeds.
/// </summary>
internal static class TrickBenchmarks
{
    private static string Isa => MLNetCnn.Architectures.Runtime.KernelSelection.Current.Isa;

    public static int Precision(IReadOnlyDictionary<string, string> options)
    {
        string model = options.GetValueOrDefault("model", "small");
        int repeats = Arguments.Int(options, "repeats", 2);
        (Func<ImageClassifier> Create, ImageDataset data, int batch, string label) setup;
        if (model == "small")
        {
            var data = Load(FashionMnistSplit.Train, FashionMnistSource.Embedded);
            setup = (() => SmallResNet(data), data, 128, $"resnet18 x0.25 small stem, 28x28 grey, {data.Count} embedded Fashion-MNIST images, batch 128");
        }
        else
        {
            int steps = Arguments.Int(options, "steps", 6);
            int batch = Arguments.Int(options, "batch", 32);
            var shape = new ImageShape(3, 224, 224);
            var random = new Random(1);
            var pixels = new float[(long)steps * batch * shape.Size];
            for (long i = 0; i < pixels.Length; i++)
            {
                pixels[i] = (float)(random.NextDouble() * 255);
            }

            var data = new ImageDataset(pixels, Enumerable.Range(0, steps * batch).Select(i => i % 1000).ToArray(), shape, 1000);
            setup = (() => { manual_seed(1); return ModelRegistry.Create(model); }, data, batch, $"{model} at 224, random images, {steps} steps of batch {batch}");
        }

        Console.WriteLine($"precision: {setup.label}; ONEDNN_MAX_CPU_ISA={Isa}; {Environment.ProcessorCount} cores, torch threads {get_num_threads()}");
        double Run(TrainingPrecision precision)
        {
            using var network = setup.Create();
            var history = new ClassifierTrainer(new TrainerOptions { Epochs = 1, BatchSize = setup.batch, LearningRate = 0.01, Precision = precision, Device = ComputeDevice.Cpu }).Fit(network, setup.data);
            return history[0].ImagesPerSecond;
        }

        Run(TrainingPrecision.Float32); // warm-up: libtorch and oneDNN initialise lazily
        Run(TrainingPrecision.BFloat16);
        var fp32 = new List<double>();
        var bf16 = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            fp32.Add(Run(TrainingPrecision.Float32));
            bf16.Add(Run(TrainingPrecision.BFloat16));
            Console.WriteLine(FormattableString.Invariant($"  repeat {r + 1}: float32 {fp32[^1]:F1} img/s, bfloat16 {bf16[^1]:F1} img/s, speed-up {bf16[^1] / fp32[^1]:F2}x"));
        }

        Console.WriteLine(FormattableString.Invariant($"median: float32 {Stats.Median(fp32):F1} img/s, bfloat16 {Stats.Median(bf16):F1} img/s, speed-up {Stats.Median(bf16) / Stats.Median(fp32):F2}x"));
        return 0;
    }

    public static int Ablation(IReadOnlyDictionary<string, string> options)
    {
        int epochs = Arguments.Int(options, "epochs", 1);
        int batch = Arguments.Int(options, "batch", 128);
        var seeds = options.GetValueOrDefault("seeds", "1,2").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var train = Load(FashionMnistSplit.Train, FashionMnistSource.Full);
        var test = Load(FashionMnistSplit.Test, FashionMnistSource.Full);
        Console.WriteLine($"tricks-ablation: resnet18 x0.25 small stem on full Fashion-MNIST ({train.Count} train / {test.Count} test), {epochs} epoch(s), batch {batch}, seeds {string.Join(",", seeds)}; ONEDNN_MAX_CPU_ISA={Isa}");

        var baseline = TrainingRecipes.Baseline(epochs, batch) with { LearningRate = LearningRateScaling.Linear(0.1, batch), Device = ComputeDevice.Cpu };
        var cosine = baseline with { Schedule = new CosineSchedule() };
        var smoothing = cosine with { LabelSmoothing = 0.1 };
        var mixup = smoothing with { Mixup = new MixupOptions { Alpha = 0.2 } };
        var efficient = mixup with { Schedule = new CosineSchedule { WarmupEpochs = epochs / 4.0 }, ZeroGamma = true, NoBiasDecay = true };
        var rows = new (string Name, TrainerOptions Options)[]
        {
            ("baseline (step decay)", baseline),
            ("+ cosine decay", cosine),
            ("+ label smoothing 0.1", smoothing),
            ("+ mixup 0.2", mixup),
            ("+ warmup, zero gamma, no bias decay (float32)", efficient),
            ("+ bfloat16 (the full efficient set)", efficient with { Precision = TrainingPrecision.BFloat16 }),
        };

        Console.WriteLine("| setup | test accuracy % (mean ± spread over seeds) | per seed | train img/s |");
        Console.WriteLine("|---|---|---|---|");
        int first = Arguments.Int(options, "from-row", 1);
        foreach (var (name, recipe) in rows.Skip(first - 1))
        {
            var accuracies = new List<double>();
            var rates = new List<double>();
            foreach (int seed in seeds)
            {
                manual_seed(seed);
                using var network = SmallResNet(train);
                var history = new ClassifierTrainer(recipe with { Seed = seed }).Fit(network, train);
                accuracies.Add(ClassifierTrainer.Evaluate(network, test).Accuracy * 100);
                rates.Add(history.Average(h => h.ImagesPerSecond));
            }

            double mean = accuracies.Average();
            double spread = (accuracies.Max() - accuracies.Min()) / 2;
            Console.WriteLine(FormattableString.Invariant($"| {name} | {mean:F2} ± {spread:F2} | {string.Join(" / ", accuracies.Select(a => a.ToString("F2", CultureInfo.InvariantCulture)))} | {rates.Average():F0} |"));
        }

        return 0;
    }

    private static ImageClassifier SmallResNet(ImageDataset data)
    {
        var (mean, std, _, _) = data.Statistics();
        return new NormalizedClassifier(
            (ModelRegistry.Get("resnet18").Config with { Width = 0.25 }).Create(new ArchitectureOptions { NumClasses = 10, InputChannels = 1, InputSize = 28, SmallInputStem = true }),
            new InputNormalization(mean, std));
    }

    private static ImageDataset Load(FashionMnistSplit split, FashionMnistSource source)
    {
        var ml = new MLContext(seed: 1);
        var rows = ml.Data.CreateEnumerable<Row>(FashionMnist.Load(ml, split, source), reuseRowObject: false).ToList();
        return new ImageDataset(rows.SelectMany(r => r.Features).ToArray(), rows.Select(r => (int)r.Label - 1).ToArray(), FashionMnist.ImageShape, 10);
    }
}
