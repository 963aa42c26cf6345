// QuickStart: train a small ResNet on Fashion-MNIST inside an ordinary ML.NET pipeline, evaluate it
// with ML.NET's metrics, save model.zip and model.onnx, reload the zip and predict a few images.
//
//   dotnet run --project examples/QuickStart                       # embedded subset, a few minutes on 2 cores
//   dotnet run --project examples/QuickStart -- --data full --epochs 5 --batch 128 --lr 0.1   # full 60k/10k set: ~93.4 % in 4 to 8 min on 2 cores (apt-get install dataset-fashion-mnist)
//
// Options: --data embedded|full|auto|<folder with the IDX files>  --epochs N  --arch NAME  --width W
//          --batch N  --lr X  --seed N  --out DIR  --augment none|LIST (flip,crop,shift,erase, each =value optional)  --label-smoothing E
//          --test-time-flip on|off (score each image with its mirror: the saved model does too; the epoch table does not)
//          --time-limit T (29m, 1h30m: --epochs becomes the most, the learning-rate schedule spans the epochs that fit)
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Tricks.Training;

QuickStartOptions options;
try
{
    options = QuickStartOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"QuickStart: {e.Message}");
    Console.Error.WriteLine(QuickStartOptions.Usage);
    return 2;
}

try
{
    return Run(options);
}
catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or KeyNotFoundException or UnauthorizedAccessException or TrainingDataException)
{
    // A missing or corrupt data set, data the trainer cannot use (one class, no images), an unknown architecture,
    // a folder that cannot be written: one line, not a stack trace.
    Console.Error.WriteLine($"QuickStart failed: {e.Message}");
    return 1;
}

static int Run(QuickStartOptions options)
{
    string data = options.Data;
    int epochs = options.Epochs;
    string outputDirectory = options.OutputDirectory;

    var mlContext = new MLContext(seed: 1);
    mlContext.Log += (_, e) =>
    {
        if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info && e.Source.StartsWith(nameof(ImageClassificationTrainer), StringComparison.Ordinal))
        {
            Console.WriteLine($"  {e.RawMessage}");
        }
    };

    IDataView train, test;
    if (Enum.TryParse<FashionMnistSource>(data, ignoreCase: true, out var source))
    {
        train = FashionMnist.Load(mlContext, FashionMnistSplit.Train, source);
        test = FashionMnist.Load(mlContext, FashionMnistSplit.Test, source);
    }
    else
    {
        train = FashionMnist.Load(mlContext, FashionMnistSplit.Train, data);
        test = FashionMnist.Load(mlContext, FashionMnistSplit.Test, data);
    }

    Console.WriteLine($"Fashion-MNIST ({data}): {train.GetColumn<uint>("Label").Count()} training images, {test.GetColumn<uint>("Label").Count()} test images.");

    var pipeline = mlContext.Cnn().ImageClassification(new ImageClassificationTrainer.Options
    {
        Arch = options.Arch,
        WidthMultiplier = options.Width,
        ImageShape = FashionMnist.ImageShape,
        Training = new TrainerOptions
        {
            Epochs = epochs,
            BatchSize = options.BatchSize,
            LearningRate = options.LearningRate,
            Seed = options.Seed,
            Augmentation = options.Augmentation,   // --augment, read by AugmentationList
            LabelSmoothing = options.LabelSmoothing,
            TimeLimit = options.TimeLimit,        // --time-limit: Epochs becomes the most
        },
        ValidationSet = test,
        TestTimeFlip = options.TestTimeFlip,
    });

    Console.WriteLine(options.TimeLimit is { } limit ? $"Training for at most {limit.TotalMinutes:0.#} minutes and {epochs} epochs..." : $"Training for {epochs} epochs...");
    var clock = Stopwatch.StartNew();
    using var model = pipeline.Fit(train);
    Console.WriteLine($"Training took {clock.Elapsed.TotalSeconds:F1} s.");

    var metrics = mlContext.MulticlassClassification.Evaluate(model.Transform(test));
    Console.WriteLine($"Test micro-accuracy {metrics.MicroAccuracy:P2}, macro-accuracy {metrics.MacroAccuracy:P2}, log-loss {metrics.LogLoss:F4}");
    Console.WriteLine(metrics.ConfusionMatrix.GetFormattedConfusionTable());

    Directory.CreateDirectory(outputDirectory);
    string zipPath = Path.Combine(outputDirectory, "model.zip");
    string onnxPath = Path.Combine(outputDirectory, "model.onnx");
    mlContext.Model.Save(model, train.Schema, zipPath);
    model.SaveOnnx(onnxPath);
    Console.WriteLine($"Saved {zipPath} and {onnxPath}.");

    // A fresh context, as a serving application would have: load the zip and predict a few test images.
    var servingContext = new MLContext();
    var loaded = servingContext.Cnn().LoadModel(zipPath, out _);
    using var loadedLifetime = loaded as IDisposable; // Dispose deletes ONNX Runtime's temp copy of the graph
    using var engine = servingContext.Model.CreatePredictionEngine<FashionImage, FashionPrediction>(loaded);
    var classNames = servingContext.Cnn().GetClassNames(engine.OutputSchema);
    foreach (var image in mlContext.Data.CreateEnumerable<FashionImage>(test, reuseRowObject: false).Take(5))
    {
        var prediction = engine.Predict(image);
        Console.WriteLine($"  actual {FashionMnist.ClassNames[(int)image.Label - 1],-12} predicted {classNames[(int)prediction.PredictedLabel - 1],-12} p={prediction.Score.Max():F3}");
    }

    return 0;
}

/// <summary>One Fashion-MNIST row as the model reads it.</summary>
internal sealed class FashionImage
{
    [VectorType(784)]
    public float[] Features { get; set; } = Array.Empty<float>();

    [KeyType(10)]
    public uint Label { get; set; }
}

/// <summary>What the model adds.</summary>
internal sealed class FashionPrediction
{
    public float[] Score { get; set; } = Array.Empty<float>();

    public uint PredictedLabel { get; set; }
}
