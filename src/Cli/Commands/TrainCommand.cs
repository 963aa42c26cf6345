using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Runtime;
using MLNetCnn.Cli.CommandLine;
using MLNetCnn.Cli.Output;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Recipes;
using MLNetCnn.Tricks.Regularization;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Cli.Commands;

/// <summary><c>train</c>: trains on an image folder or Fashion-MNIST and writes the model, metrics, plots and an HTML report.</summary>
internal static class TrainCommand
{
    public const string ModelFile = "model.zip";
    public const string OnnxFile = "model.onnx";
    public const string MetricsFile = "metrics.json";
    public const string LossImage = "loss.png";
    public const string AccuracyImage = "accuracy.png";
    public const string ConfusionImage = "confusion.png";
    public const string ReportFile = "report.html";

    public static readonly CommandSpec Spec = new(
        "train",
        "Train a classifier on an image folder or Fashion-MNIST; write the model, metrics, plots and a report.",
        "mlnetcnn train --data <folder|fashion-mnist> --output <dir> [options]",
        TrainSettings.Options,
        $"""
        Writes into --output: {ModelFile} (ML.NET model; scores the same kind of input it was trained on),
        {OnnxFile}, {MetricsFile} (per-epoch history, final held-out metrics, per-class counts),
        {LossImage} and {AccuracyImage} (train and validation per epoch), {ConfusionImage} and {ReportFile}.
        A folder is split into training and validation images (--validation-fraction); Fashion-MNIST
        uses its test split. Training runs on CUDA when present, else on the CPU.

        Example: mlnetcnn train --data photos --image-size 64 --width 0.5 --epochs 10 --output runs/photos
        """);

    public static int Run(Arguments arguments, CommandContext context)
    {
        var settings = TrainSettings.From(arguments);
        var started = DateTimeOffset.Now;
        var total = Stopwatch.StartNew();
        var progress = new ProgressDisplay(context.Output, ProgressDisplay.IsTerminal(context.Output), TimeSpan.FromSeconds(5));
        string output = Path.GetFullPath(settings.Output);
        Directory.CreateDirectory(output);

        var mlContext = new MLContext(seed: settings.Seed);
        var data = TrainingData.Load(mlContext, settings, progress);
        double loadSeconds = total.Elapsed.TotalSeconds;
        progress.Line(string.Create(CultureInfo.InvariantCulture, $"{data.Summary.Description}: {data.Summary.TrainImages:N0} training and {data.Summary.HeldOutImages:N0} held-out images ({data.Summary.HeldOut}), {data.ClassNames.Count} classes, input {data.Shape}."));

        var options = TrainerOptions(settings, data, progress);
        options.CancellationToken = context.Cancellation;
        ImageClassificationTrainer trainer;
        try
        {
            trainer = mlContext.Cnn().ImageClassification(options);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        var precision = PrecisionPolicy.Resolve(settings.Precision, Devices.Resolve(options.Device).type);
        progress.Line($"Kernels: {KernelSelection.Current}");
        progress.Line($"Precision: {precision}");
        if (precision.Warning is { } warning)
        {
            progress.Line($"warning: {warning}");
        }

        progress.Line(string.Create(CultureInfo.InvariantCulture, $"Training {settings.Architecture.Name} (width x{settings.Width}) for {settings.Epochs} epochs, batch {options.BatchSize}, learning rate {options.LearningRate:G4} ({settings.Recipe} recipe)."));
        var clock = Stopwatch.StartNew();
        using var model = trainer.Fit(data.Train);
        double trainSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var metrics = mlContext.MulticlassClassification.Evaluate(model.Transform(data.HeldOut));
        var final = FinalMetrics.From(metrics, data.ClassNames, data.Summary.HeldOut);
        double evaluateSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        mlContext.Model.Save(model, data.Train.Schema, Path.Combine(output, ModelFile));
        model.SaveOnnx(Path.Combine(output, OnnxFile));
        double saveSeconds = clock.Elapsed.TotalSeconds;

        var report = new TrainingReport(
            context.CommandLine,
            started,
            new RunSettings(settings.Architecture.Name, settings.Width, data.Shape.ToString(), settings.Recipe, options.Epoch, options.BatchSize, options.LearningRate, options.LabelSmoothing, options.Mixup?.Alpha, precision.ToString(), options.Seed, KernelSelection.Current.ToString()),
            data.Summary,
            model.TrainingHistory.Select(EpochRecord.From).ToList(),
            final,
            new Timing(loadSeconds, trainSeconds, evaluateSeconds, saveSeconds, total.Elapsed.TotalSeconds));
        WriteReport(output, report);

        progress.Line(string.Create(CultureInfo.InvariantCulture, $"Held-out accuracy {final.Accuracy:P2} (macro {final.MacroAccuracy:P2}, log-loss {final.LogLoss:F4}) on {final.Images:N0} images ({final.EvaluatedOn})."));
        progress.Line(string.Create(CultureInfo.InvariantCulture, $"Wrote {ModelFile}, {OnnxFile}, {MetricsFile}, {LossImage}, {AccuracyImage}, {ConfusionImage} and {ReportFile} to {output} ({total.Elapsed.TotalSeconds:F1} s in all)."));
        return 0;
    }

    private static ImageClassificationTrainer.Options TrainerOptions(TrainSettings settings, TrainingData data, ProgressDisplay progress)
    {
        var options = settings.Recipe switch
        {
            TrainSettings.BaselineRecipe => ImageClassificationTrainer.Options.FromRecipe(TrainingRecipes.Baseline(settings.Epochs, settings.BatchSize)),
            TrainSettings.BagOfTricksRecipe => ImageClassificationTrainer.Options.FromRecipe(TrainingRecipes.BagOfTricks(settings.Epochs, settings.BatchSize, precision: settings.Precision)),
            _ => new ImageClassificationTrainer.Options { Epoch = settings.Epochs, BatchSize = settings.BatchSize },
        };
        options.Arch = settings.Architecture.Name;
        options.WidthMultiplier = settings.Width;
        options.ImageShape = data.Shape;
        options.FeatureColumnName = data.FeatureColumn;
        options.ValidationSet = data.HeldOut;
        options.Precision = settings.Precision;
        options.Seed = settings.Seed;
        options.LearningRate = settings.LearningRate ?? options.LearningRate;
        options.LabelSmoothing = settings.LabelSmoothing ?? options.LabelSmoothing;
        options.Mixup = settings.Mixup > 0 ? new MixupOptions { Alpha = settings.Mixup } : options.Mixup;
        options.MetricsCallback = m => progress.Line(m.ToString());
        options.ProgressCallback = p => progress.Training(p, validationFollows: true);
        return options;
    }

    private static void WriteReport(string output, TrainingReport report)
    {
        report.WriteJson(Path.Combine(output, MetricsFile));
        Plot(Path.Combine(output, LossImage), "Loss", "loss (cross-entropy)", report, e => e.TrainLoss, e => e.ValidationLoss, percent: false);
        Plot(Path.Combine(output, AccuracyImage), "Accuracy", "accuracy", report, e => e.TrainAccuracy, e => e.ValidationAccuracy, percent: true);
        var final = report.Final;
        Charts.ConfusionMatrix(
            Path.Combine(output, ConfusionImage),
            string.Create(CultureInfo.InvariantCulture, $"Confusion matrix: {final.EvaluatedOn}, {final.Images:N0} images, accuracy {final.Accuracy:P1}"),
            report.Data.ClassNames,
            final.ConfusionMatrix);
        HtmlReport.Write(Path.Combine(output, ReportFile), report, LossImage, AccuracyImage, ConfusionImage);
    }

    private static void Plot(string path, string what, string yTitle, TrainingReport report, Func<EpochRecord, double?> train, Func<EpochRecord, double?> validation, bool percent) =>
        Charts.Line(
            path,
            $"{what} per epoch: {report.Settings.Architecture} on {report.Data.Source}",
            yTitle,
            [new("train", report.Epochs.Select(train).ToList(), Charts.Blue), new("validation", report.Epochs.Select(validation).ToList(), Charts.Orange)],
            percent);
}

/// <summary>Training and held-out data as the trainer reads them.</summary>
internal sealed record TrainingData(IDataView Train, IDataView HeldOut, string FeatureColumn, ImageShape Shape, IReadOnlyList<string> ClassNames, DataSummary Summary)
{
    public static TrainingData Load(MLContext mlContext, TrainSettings settings, ProgressDisplay progress) =>
        settings.FashionMnist is { } source ? LoadFashionMnist(mlContext, settings, source) : LoadFolder(mlContext, settings, progress);

    private static TrainingData LoadFashionMnist(MLContext mlContext, TrainSettings settings, FashionMnistSource source)
    {
        var train = FashionMnist.Load(mlContext, FashionMnistSplit.Train, source);
        var test = FashionMnist.Load(mlContext, FashionMnistSplit.Test, source);
        bool full = source == FashionMnistSource.Full || (source == FashionMnistSource.Auto && FashionMnist.IsFullSetInstalled);
        string description = full ? $"Fashion-MNIST, full set ({FashionMnist.DefaultDirectory})" : "Fashion-MNIST, embedded subset";
        return Create(mlContext, settings, train, test, "Features", FashionMnist.ImageShape, FashionMnist.ClassNames, description, "test split");
    }

    private static TrainingData LoadFolder(MLContext mlContext, TrainSettings settings, ProgressDisplay progress)
    {
        if (!Directory.Exists(settings.Data))
        {
            throw new DirectoryNotFoundException($"--data: folder '{settings.Data}' does not exist. Expected a folder with one sub-folder of images per class, or one of: {string.Join(", ", TrainSettings.FashionMnistNames.Keys)}.");
        }

        var folder = ImageFolder.Load(mlContext, settings.Data, skipUnreadable: true, progress: progress.Decoding);
        foreach (string skipped in folder.Skipped.Take(10))
        {
            progress.Line("skipped: " + skipped);
        }

        if (folder.Skipped.Count > 10)
        {
            progress.Line($"skipped {folder.Skipped.Count - 10} more unreadable files.");
        }

        var split = mlContext.Data.TrainTestSplit(folder.Data, testFraction: settings.ValidationFraction, seed: settings.Seed);
        var shape = new ImageShape(settings.Channels, settings.ImageSize, settings.ImageSize);
        string heldOut = string.Create(CultureInfo.InvariantCulture, $"validation split ({settings.ValidationFraction:P0})");
        return Create(mlContext, settings, split.TrainSet, split.TestSet, ImageFolder.ImagePathColumnName, shape, folder.ClassNames, Path.GetFullPath(settings.Data), heldOut);
    }

    private static TrainingData Create(MLContext mlContext, TrainSettings settings, IDataView train, IDataView heldOut, string featureColumn, ImageShape shape, IReadOnlyList<string> classNames, string description, string heldOutName)
    {
        if (settings.Limit is { } limit)
        {
            // Cached, so every reader (training, per-epoch validation, final metrics) sees the same subset.
            train = mlContext.Data.Cache(mlContext.Data.TakeRows(mlContext.Data.ShuffleRows(train, settings.Seed), limit));
            heldOut = mlContext.Data.Cache(mlContext.Data.TakeRows(mlContext.Data.ShuffleRows(heldOut, settings.Seed), limit));
        }

        int trainCount = Count(train);
        int heldOutCount = Count(heldOut);
        if (trainCount == 0 || heldOutCount == 0)
        {
            throw new InvalidDataException($"--data '{settings.Data}': {trainCount} training and {heldOutCount} held-out images; both need at least one (add images or change --validation-fraction).");
        }

        var trainClasses = train.GetColumn<uint>(ImageData.LabelColumnName).Distinct().Select(k => classNames[(int)k - 1]).ToList();
        if (trainClasses.Count < 2)
        {
            throw new InvalidDataException($"--data '{settings.Data}': the {trainCount} training images left by --validation-fraction {settings.ValidationFraction.ToString(CultureInfo.InvariantCulture)}{(settings.Limit is { } n ? $" and --limit {n}" : string.Empty)} all belong to class '{trainClasses.Single()}'; a classifier needs at least two (add images to the other classes or lower --validation-fraction).");
        }

        var summary = new DataSummary(settings.Data, description, classNames, trainCount, heldOutCount, heldOutName);
        return new TrainingData(train, heldOut, featureColumn, shape, classNames, summary);
    }

    private static int Count(IDataView data) => data.GetColumn<uint>(ImageData.LabelColumnName).Count();
}
