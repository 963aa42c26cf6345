// Benchmarks, measured side by side in one run (results go to docs/benchmarks.md with the command).
//
//   dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- fit-overhead [--epochs 2] [--repeats 3] [--batch 64]
//
// fit-overhead: images/s of ImageClassificationTrainer.Fit (IDataView in, ONNX-served transformer out)
// against a minimal hand-written TorchSharp loop on the same model, data, batch size and schedule.
// Runs alternate (estimator, hand loop, estimator, ...) so drift in machine load hits both.
//
//   ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- precision [--model small|resnet50] [--repeats 2]
//   ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- tricks-ablation [--epochs 1] [--seeds 1,2]
//
//   dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- vs-pytorch [--models small,resnet18,mobilenet_v2] [--repeats 3] [--threads 2]
//   dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- streaming [--images 100000] [--steps 6]
//   dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- read-weights <file>
//   dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- native-heap [--models small,resnet18] [--repeats 3] [--images 128]
//   dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- test-time-flip --model DIR/model.zip [--data full]
//
// precision and tricks-ablation: see TrickBenchmarks.cs. serving: see ServingBenchmarks.cs. vs-pytorch: see VsPyTorch.cs.
// streaming: see StreamingBenchmarks.cs. native-heap: see NativeHeapBenchmarks.cs. test-time-flip: see TestTimeFlipBenchmark.cs. read-weights: peak memory of reading one (hostile) weights file; see UntrustedInputBenchmarks.cs.
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;
using TorchSharp;
using static TorchSharp.torch;

var options = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
for (int i = 1; i + 1 < args.Length; i += 2)
{
    options[args[i].TrimStart('-')] = args[i + 1];
}

if (args.Length > 0 && args[0] == "precision")
{
    return TrickBenchmarks.Precision(options);
}

if (args.Length > 0 && args[0] == "serving")
{
    return ServingBenchmarks.Run(options);
}

if (args.Length > 0 && args[0] == "vs-pytorch")
{
    return VsPyTorch.Run(options);
}

if (args.Length > 0 && args[0] == "streaming")
{
    return StreamingBenchmarks.Run(options);
}

if (args.Length > 0 && args[0] == StreamingBenchmarks.ChildCommand)
{
    return StreamingBenchmarks.RunChild(options);
}

if (args.Length > 0 && args[0] == "native-heap")
{
    return NativeHeapBenchmarks.Run(options);
}

if (args.Length > 0 && args[0] == NativeHeapBenchmarks.ChildCommand)
{
    return NativeHeapBenchmarks.RunChild(options);
}

if (args.Length > 0 && args[0] == "test-time-flip")
{
    return TestTimeFlipBenchmark.Run(options);
}

if (args.Length > 0 && args[0] == "read-weights")
{
    return UntrustedInputBenchmarks.ReadWeights(args[1..]);
}

if (args.Length > 0 && args[0] == "tricks-ablation")
{
    return TrickBenchmarks.Ablation(options);
}

if (args.Length == 0 || args[0] != "fit-overhead")
{
    Console.Error.WriteLine("usage: fit-overhead [--epochs N] [--repeats N] [--batch N] | vs-pytorch [--models small,resnet18,mobilenet_v2] [--repeats N] [--threads N] [--python PATH] | precision [--model small|NAME] [--repeats N] | tricks-ablation [--epochs N] [--seeds 1,2] | serving [--model NAME] [--width W] [--size S] [--images N] [--repeats N] | streaming [--images N] [--steps N] [--batch N] [--model NAME] [--size S] | native-heap [--models small,resnet18] [--repeats N] [--images N] | test-time-flip --model PATH [--data full|embedded]");
    return 2;
}

int epochs = int.Parse(options.GetValueOrDefault("epochs", "2"), CultureInfo.InvariantCulture);
int repeats = int.Parse(options.GetValueOrDefault("repeats", "3"), CultureInfo.InvariantCulture);
int batch = int.Parse(options.GetValueOrDefault("batch", "64"), CultureInfo.InvariantCulture);
const double widthMultiplier = 0.25;
const double learningRate = 0.05;

var ml = new MLContext(seed: 1);
var train = FashionMnist.Load(ml, FashionMnistSplit.Train, FashionMnistSource.Embedded);
var rows = ml.Data.CreateEnumerable<Row>(train, reuseRowObject: false).ToList();
float[] pixels = rows.SelectMany(r => r.Features).ToArray();
long[] labels = rows.Select(r => (long)r.Label - 1).ToArray();
int n = labels.Length;
Console.WriteLine($"fit-overhead: resnet18 x{widthMultiplier} small-input stem, {n} Fashion-MNIST images (embedded), {epochs} epochs, batch {batch}, {Environment.ProcessorCount} cores, torch threads {get_num_threads()}");

// One untimed run of each first: libtorch and oneDNN initialise lazily on first use.
TimeEstimator();
TimeHandLoop();

var estimatorRates = new List<double>();
var loopRates = new List<double>();
for (int r = 0; r < repeats; r++)
{
    estimatorRates.Add(TimeEstimator());
    loopRates.Add(TimeHandLoop());
    Console.WriteLine(FormattableString.Invariant($"    ClassifierTrainer alone (no ML.NET): {TimeTrainer():F0} img/s"));
    Console.WriteLine(FormattableString.Invariant($"  repeat {r + 1}: estimator {estimatorRates[^1]:F0} img/s, hand loop {loopRates[^1]:F0} img/s, ratio {estimatorRates[^1] / loopRates[^1]:F3}"));
}

double estimator = Stats.Median(estimatorRates);
double loop = Stats.Median(loopRates);
Console.WriteLine(FormattableString.Invariant($"median: estimator Fit {estimator:F0} img/s, hand-written loop {loop:F0} img/s, estimator/loop = {estimator / loop:F3} (overhead {(1 - (estimator / loop)) * 100:F1}%)"));
return 0;

double TimeEstimator()
{
    var trainer = ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options
    {
        Arch = "resnet18",
        WidthMultiplier = widthMultiplier,
        ImageShape = FashionMnist.ImageShape,
        Epoch = epochs,
        BatchSize = batch,
        LearningRate = learningRate,
    });
    var clock = Stopwatch.StartNew();
    using var model = trainer.Fit(train);
    double total = clock.Elapsed.TotalSeconds;
    double training = model.TrainingHistory.Sum(e => e.Elapsed.TotalSeconds);
    Console.WriteLine(FormattableString.Invariant($"    estimator: Fit {total:F1} s, of which epochs {training:F1} s ({(double)n * epochs / training:F0} img/s in the epochs), the rest (reading the IDataView, statistics, model build, ONNX export, serving chain) {total - training:F1} s"));
    return (double)n * epochs / total;
}

double TimeHandLoop()
{
    // The minimal loop a TorchSharp user would write: all data in one tensor, shuffled index batches.
    manual_seed(1);
    float mean = pixels.Average();
    float std = (float)Math.Sqrt(pixels.Average(p => (p - mean) * (double)(p - mean)));
    using var network = new NormalizedClassifier(
        (ModelRegistry.Get("resnet18").Config with { Width = widthMultiplier }).Create(new ArchitectureOptions { NumClasses = 10, InputChannels = 1, InputSize = 28, SmallInputStem = true }),
        new InputNormalization(new[] { mean }, new[] { std }));
    using var optimizer = optim.SGD(network.parameters(), learningRate, 0.9, 0, 5e-4);
    using var x = tensor(pixels).reshape(n, 1, 28, 28);
    using var y = tensor(labels);
    var clock = Stopwatch.StartNew();
    long steps = (long)epochs * ((n + batch - 1) / batch);
    long step = 0;
    network.train();
    for (int epoch = 0; epoch < epochs; epoch++)
    {
        using var order = randperm(n);
        for (int start = 0; start < n; start += batch)
        {
            using var scope = NewDisposeScope();
            foreach (var group in optimizer.ParamGroups)
            {
                group.LearningRate = learningRate * 0.5 * (1 + Math.Cos(Math.PI * step / steps));
            }

            var index = order.narrow(0, start, Math.Min(batch, n - start));
            var loss = nn.functional.cross_entropy(network.forward(x.index_select(0, index)), y.index_select(0, index));
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            loss.item<float>();
            step++;
        }
    }

    return (double)n * epochs / clock.Elapsed.TotalSeconds;
}

double TimeTrainer()
{
    manual_seed(1);
    var dataset = new MLNetCnn.Tricks.Data.ImageDataset(pixels, labels.Select(l => (int)l).ToArray(), FashionMnist.ImageShape, 10);
    var (mean, std, _, _) = MLNetCnn.Tricks.Data.ImageSources.Statistics(dataset);
    using var network = new NormalizedClassifier(
        (ModelRegistry.Get("resnet18").Config with { Width = widthMultiplier }).Create(new ArchitectureOptions { NumClasses = 10, InputChannels = 1, InputSize = 28, SmallInputStem = true }),
        new InputNormalization(mean, std));
    var trainer = new MLNetCnn.Tricks.Training.ClassifierTrainer(new MLNetCnn.Tricks.Training.TrainerOptions { Epochs = epochs, BatchSize = batch, LearningRate = learningRate, Schedule = new MLNetCnn.Tricks.Schedules.CosineSchedule() });
    var clock = Stopwatch.StartNew();
    trainer.Fit(network, dataset);
    return (double)n * epochs / clock.Elapsed.TotalSeconds;
}

internal sealed class Row
{
    [VectorType(784)]
    public float[] Features { get; set; } = Array.Empty<float>();

    [KeyType(10)]
    public uint Label { get; set; }
}
