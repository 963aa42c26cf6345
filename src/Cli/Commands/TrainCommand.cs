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
using MLNetCnn.Tricks.Augmentation;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Recipes;
using MLNetCnn.Tricks.Regularization;
using MLNetCnn.Serving;
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
        ZooCommands.CheckBuildable(settings.Architecture, settings.Width, settings.ImageSize, settings.Channels);
        var started = DateTimeOffset.Now;
        var total = Stopwatch.StartNew();
        var progress = ProgressDisplay.For(context.Output);
        string output = Path.GetFullPath(settings.Output);
        TrainingData.CheckDataExists(settings);
        try
        {
            Directory.CreateDirectory(output);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException(File.Exists(output) ? $"--output: '{settings.Output}' is a file; give a folder (it is created when missing)." : $"--output: cannot create folder '{settings.Output}': {e.Message}", e);
        }

        var mlContext = new MLContext(seed: settings.Seed);
        var data = TrainingData.Load(mlContext, settings, progress, context.Cancellation);
        double loadSeconds = total.Elapsed.TotalSeconds;
        progress.Line(string.Create(CultureInfo.InvariantCulture, $"{data.Summary.Description}: {data.Summary.TrainImages:N0} training and {data.Summary.HeldOutImages:N0} held-out images ({data.Summary.HeldOut}), {data.ClassNames.Count} classes, input {data.Shape}."));

        // The test folder is read (its sub-folders matched to the classes, every file checked) before training, so a
        // folder that names no class of the model fails in seconds rather than after the whole run.
        var testSet = settings.TestData is { } testFolder ? Evaluation.LabelledFolder(mlContext, testFolder, data.ClassNames, progress, context.Error, Spec.Name, context.Cancellation) : null;
        if (testSet is { Paths.Count: 0 })
        {
            throw new InvalidDataException($"--test-data '{settings.TestData}': no image in it could be read.");
        }

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

        var precision = PrecisionPolicy.Resolve(settings.Precision, Devices.Resolve(options.Training.Device).type);
        progress.Line($"Kernels: {KernelSelection.Current}");
        progress.Line($"Precision: {precision}");
        if (precision.Warning is { } warning)
        {
            progress.Line($"warning: {warning}");
        }

        if (TrainingData.FewStepsWarning(data.Summary.TrainImages, options.BatchSize, options.Epoch) is { } fewSteps)
        {
            progress.Line(fewSteps);
        }

        progress.Line(string.Create(CultureInfo.InvariantCulture, $"Training {settings.Architecture.Name} (width x{settings.EffectiveWidth}) for {(settings.TimeLimit is { } limit ? $"about {ProgressDisplay.Duration(limit)} (at most {settings.Epochs} epochs)" : $"{settings.Epochs} epochs")}, batch {options.BatchSize}, learning rate {options.LearningRate:G4} ({settings.Recipe} recipe), augmentation {AugmentationText(options)}{(options.TestTimeFlip ? ", test-time flip" : "")}."));
        var clock = Stopwatch.StartNew();
        using var model = trainer.Fit(data.Train);
        double trainSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var final = testSet is { } test
            ? EvaluateTestFolder(mlContext, model, data, test, settings.TestData!, progress, context)
            : FinalMetrics.From(mlContext.MulticlassClassification.Evaluate(model.Transform(new ScoringProgressView(data.HeldOut, data.Summary.HeldOutImages, progress, "held-out images"))), data.ClassNames, data.Summary.HeldOut);
        progress.Clear();
        double evaluateSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        // Each written beside its final name and renamed once complete: a full disk leaves no truncated model.
        AtomicFile.Write(Path.Combine(output, ModelFile), path => mlContext.Model.Save(model, data.Train.Schema, path));
        AtomicFile.Write(Path.Combine(output, OnnxFile), model.SaveOnnx);
        double saveSeconds = clock.Elapsed.TotalSeconds;

        var report = new TrainingReport(
            context.CommandLine,
            started,
            new RunSettings(settings.Architecture.Name, settings.EffectiveWidth, data.Shape.ToString(), settings.Recipe, options.Epoch, options.BatchSize, options.LearningRate, options.Training.LabelSmoothing, options.Training.Mixup?.Alpha, AugmentationText(options), options.TestTimeFlip, precision.ToString(), options.Training.Seed, KernelSelection.Current.ToString(), options.Training.TimeLimit?.TotalSeconds),
            data.Summary,
            model.TrainingHistory.Select(EpochRecord.From).ToList(),
            final,
            new Timing(loadSeconds, trainSeconds, evaluateSeconds, saveSeconds, total.Elapsed.TotalSeconds));
        bool confusionDrawn = WriteReport(output, report);

        progress.Line(string.Create(CultureInfo.InvariantCulture, $"{(settings.TestData is null ? "Held-out" : "Test")} accuracy {final.Accuracy:P2} (macro {final.MacroAccuracy:P2}, log-loss {final.LogLoss:F4}) on {final.Images:N0} images ({final.EvaluatedOn})."));
        progress.Line(string.Create(CultureInfo.InvariantCulture, $"Wrote {ModelFile}, {OnnxFile}, {MetricsFile}, {LossImage}, {AccuracyImage}{(confusionDrawn ? ", " + ConfusionImage : string.Empty)} and {ReportFile} to {output} ({total.Elapsed.TotalSeconds:F1} s in all)."));
        return 0;
    }

    private static ImageClassificationTrainer.Options TrainerOptions(TrainSettings settings, TrainingData data, ProgressDisplay progress)
    {
        var recipe = settings.Recipe switch
        {
            TrainSettings.BaselineRecipe => TrainingRecipes.Baseline(settings.Epochs, settings.BatchSize),
            TrainSettings.BagOfTricksRecipe => TrainingRecipes.BagOfTricks(settings.Epochs, settings.BatchSize, precision: settings.Precision),
            _ => new Tricks.Training.TrainerOptions { Epochs = settings.Epochs, BatchSize = settings.BatchSize },
        };
        return new ImageClassificationTrainer.Options
        {
            Architecture = settings.Architecture.Config,
            WidthMultiplier = settings.Width,
            ImageShape = data.Shape,
            FeatureColumnName = data.FeatureColumn,
            ValidationSet = data.HeldOut,
            Training = recipe with
            {
                Precision = settings.Precision,
                Seed = settings.Seed,
                LearningRate = settings.LearningRate ?? recipe.LearningRate,
                LabelSmoothing = settings.LabelSmoothing ?? recipe.LabelSmoothing,
                Mixup = settings.Mixup > 0 ? new MixupOptions { Alpha = settings.Mixup } : recipe.Mixup,
                Augmentation = settings.Augmentation ?? recipe.Augmentation,
                TimeLimit = settings.TimeLimit,
            },
            TestTimeFlip = settings.TestTimeFlip,
            MetricsCallback = m => progress.Line(m.ToString()),
            ProgressCallback = p => progress.Training(p, validationFollows: true),
            ReadProgressCallback = progress.Reading,
        };
    }

    private static string AugmentationText(ImageClassificationTrainer.Options options) =>
        options.Training.Augmentation is { } a ? AugmentationList.Format(a) ?? a.ToString() : "none";

    /// <summary>The final metrics on a labelled test folder keyed by the model's classes (the same scoring as <c>evaluate</c>).</summary>
    private static FinalMetrics EvaluateTestFolder(MLContext mlContext, ITransformer model, TrainingData data, LabelledImages test, string folder, ProgressDisplay progress, CommandContext context)
    {
        var scorer = ModelInput.Find(model, data.Train.Schema, "the trained model").Scorer(mlContext, model);
        return Evaluation.Run(mlContext, scorer, test, progress, context.Error, Spec.Name, $"test folder {Path.GetFullPath(folder)}", context.Cancellation);
    }

    /// <summary>
    /// Writes metrics.json, the pictures and report.html, each whole or not at all (<see cref="AtomicFile"/>); false when
    /// the confusion matrix had too many classes to draw.
    /// </summary>
    private static bool WriteReport(string output, TrainingReport report)
    {
        AtomicFile.Write(Path.Combine(output, MetricsFile), report.WriteJson);
        Plot(Path.Combine(output, LossImage), "Loss", "loss (cross-entropy)", report, e => e.TrainLoss, e => e.ValidationLoss, percent: false);
        Plot(Path.Combine(output, AccuracyImage), "Accuracy", "accuracy", report, e => e.TrainAccuracy, e => e.ValidationAccuracy, percent: true);
        var final = report.Final;
        bool drawn = report.Data.ClassNames.Count <= Charts.MaxConfusionClasses;
        if (drawn)
        {
            AtomicFile.Write(Path.Combine(output, ConfusionImage), path => Charts.ConfusionMatrix(
                path,
                string.Create(CultureInfo.InvariantCulture, $"Confusion matrix: {final.EvaluatedOn}, {final.Images:N0} images, accuracy {final.Accuracy:P1}"),
                report.Data.ClassNames,
                final.ConfusionMatrix));
        }

        AtomicFile.Write(Path.Combine(output, ReportFile), path => HtmlReport.Write(path, report, LossImage, AccuracyImage, drawn ? ConfusionImage : null));
        return drawn;
    }

    private static void Plot(string target, string what, string yTitle, TrainingReport report, Func<EpochRecord, double?> train, Func<EpochRecord, double?> validation, bool percent) =>
        AtomicFile.Write(target, path => Charts.Line(
            path,
            $"{what} per epoch: {report.Settings.Architecture} on {report.Data.Source}",
            yTitle,
            [new("train", report.Epochs.Select(train).ToList(), Charts.Blue), new("validation", report.Epochs.Select(validation).ToList(), Charts.Orange)],
            percent));
}
