using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Cli.Output;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Cli.Commands;

/// <summary>Training and held-out data as the trainer reads them.</summary>
internal sealed record TrainingData(IDataView Train, IDataView HeldOut, string FeatureColumn, ImageShape Shape, IReadOnlyList<string> ClassNames, DataSummary Summary)
{
    public static TrainingData Load(MLContext mlContext, TrainSettings settings, ProgressDisplay progress, CancellationToken cancellation) =>
        settings.FashionMnist is { } source ? LoadFashionMnist(mlContext, settings, source) : LoadFolder(mlContext, settings, progress, cancellation);

    private static TrainingData LoadFashionMnist(MLContext mlContext, TrainSettings settings, FashionMnistSource source)
    {
        var train = FashionMnist.Load(mlContext, FashionMnistSplit.Train, source);
        var test = FashionMnist.Load(mlContext, FashionMnistSplit.Test, source);
        bool full = source == FashionMnistSource.Full || (source == FashionMnistSource.Auto && FashionMnist.IsFullSetInstalled);
        string description = full ? $"Fashion-MNIST, full set ({FashionMnist.DefaultDirectory})" : "Fashion-MNIST, embedded subset";
        return Create(mlContext, settings, train, test, "Features", FashionMnist.ImageShape, FashionMnist.ClassNames, description, "test split");
    }

    /// <summary>
    /// Refuses a --data folder that does not exist, before <c>train</c> creates its --output: a mistyped folder name left
    /// an empty output folder behind (an outside sweep). A missing --test-data is refused when the options are read.
    /// </summary>
    public static void CheckDataExists(TrainSettings settings)
    {
        if (settings.IsFolder && !Directory.Exists(settings.Data))
        {
            throw new DirectoryNotFoundException($"--data: {(File.Exists(settings.Data) ? $"'{settings.Data}' is a file, not a folder" : $"folder '{settings.Data}' does not exist")}. Expected a folder with one sub-folder of images per class, or one of: {string.Join(", ", TrainSettings.FashionMnistNames.Keys)}.");
        }
    }

    private static TrainingData LoadFolder(MLContext mlContext, TrainSettings settings, ProgressDisplay progress, CancellationToken cancellation)
    {
        var folder = ImageFolder.Load(mlContext, settings.Data, skipUnreadable: true, progress: progress.Decoding, cancellationToken: cancellation);
        foreach (string skipped in folder.Skipped.Take(10))
        {
            progress.Line("skipped: " + ClassFolderNames.Visible(skipped));
        }

        if (folder.Skipped.Count > 10)
        {
            progress.Line($"skipped {folder.Skipped.Count - 10} more unreadable files.");
        }

        if (DecodeLimitOption.Hint(folder.Skipped.Count(DecodeLimitOption.IsOverTheLimit)) is { } hint)
        {
            progress.Line(hint);
        }

        foreach (string line in LeftOutLines(folder))
        {
            progress.Line(line);
        }

        var (train, validation) = ImageFolder.Split(mlContext, folder, settings.ValidationFraction, settings.Seed);
        var shape = new ImageShape(settings.Channels, settings.ImageSize, settings.ImageSize);
        // The split holds out at least one image of every class with two or more, however small the fraction.
        string heldOut = $"validation split ({StratifiedSplits.Describe(settings.ValidationFraction)}, at least 1 image of each class with 2 or more)";
        var data = Create(mlContext, settings, train.Data, validation.Data, ImageFolder.ImagePathColumnName, shape, folder.ClassNames, Path.GetFullPath(settings.Data), heldOut);
        return data with
        {
            Summary = data.Summary with
            {
                IgnoredFiles = LeftOut.Of(folder.Ignored),
                SkippedImages = LeftOut.Of(folder.Skipped),
                EmptyClassFolders = LeftOut.Of(folder.EmptyClassFolders),
            },
        };
    }

    /// <summary>Steps of training below which <see cref="FewStepsWarning"/> warns.</summary>
    public const int FewSteps = 15;

    /// <summary>
    /// A warning when training makes fewer than <see cref="FewSteps"/> steps: batch normalization's running statistics
    /// (momentum 0.1), which the saved model scores with, then still hold a fifth or more of their starting values. Found
    /// by an outside sweep: 48 photos at the default batch of 64 made 8 steps in 8 epochs, 97.9 % right in training and
    /// 41.7 % held out (red photos scored as blue at 0.84), where batch 8 made 48 steps and 91.7 % held out.
    /// </summary>
    public static string? FewStepsWarning(int images, int batch, int epochs)
    {
        // Counted as for a model with batch norm, which leaves out a last batch of one image: at worst one step fewer a
        // epoch than a model without.
        long steps = (long)ClassifierTrainer.StepsPerEpoch(images, batch, batchNorm: true) * epochs;
        return steps >= FewSteps ? null : string.Create(
            CultureInfo.InvariantCulture,
            $"warning: {images} training images at batch {batch} make {steps} step{(steps == 1 ? string.Empty : "s")} in {epochs} epoch{(epochs == 1 ? string.Empty : "s")}. After so few, the running statistics of batch normalization, which the saved model scores with, still hold {Math.Pow(0.9, steps):P0} of their starting values, so held-out figures can fall far below training ones; lower --batch or raise --epochs to make at least {FewSteps} steps.");
    }

    /// <summary>The lines that say what a folder's reading left out besides undecodable images (each listed in metrics.json too).</summary>
    public static IEnumerable<string> LeftOutLines(ImageFolderData folder) =>
        new[]
        {
            LeftOut.Describe(folder.Ignored, "file ignored (not an image by its extension, or outside a class folder)", "files ignored (not images by their extension, or outside a class folder)"),
            LeftOut.UnreadImages(folder.Ignored),
            LeftOut.Describe(folder.EmptyClassFolders, "class folder without images, not a class", "class folders without images, not classes"),
        }.OfType<string>();

    private static TrainingData Create(MLContext mlContext, TrainSettings settings, IDataView train, IDataView heldOut, string featureColumn, ImageShape shape, IReadOnlyList<string> classNames, string description, string heldOutName)
    {
        if (settings.Limit is { } limit)
        {
            // A uniform sample: a folder's rows come class by class, and ShuffleRows' default pool of 1,000 rows
            // (its source cannot be shuffled) took --limit 64 of 4,500 images from the first class alone. Cached, so
            // every reader (training, per-epoch validation, final metrics) sees the same subset.
            train = mlContext.Data.Cache(Sample(mlContext, train, limit, settings.Seed));
            heldOut = mlContext.Data.Cache(Sample(mlContext, heldOut, limit, settings.Seed));
        }

        int trainCount = Count(train);
        int heldOutCount = Count(heldOut);
        if (trainCount == 0 || heldOutCount == 0)
        {
            // A folder's split holds out a share of each class that has at least 2 images, so with fewer the fraction cannot help.
            string fix = heldOutCount == 0 && trainCount > 0 && settings.TestData is null && settings.FashionMnist is null
                ? "a class lends images to the held-out set only when it has at least 2 (--validation-fraction takes a share of each class); add images, or give held-out images with --test-data"
                : "add images";
            throw new InvalidDataException($"--data '{settings.Data}': {trainCount} training and {heldOutCount} held-out images; both need at least one ({fix}).");
        }

        var trainKeys = train.GetColumn<uint>(ImageData.LabelColumnName).ToList();
        var perClass = Enumerable.Range(1, classNames.Count).Select(k => trainKeys.Count(key => key == k)).ToList();
        var trainClasses = trainKeys.Distinct().Select(k => classNames[(int)k - 1]).ToList();
        if (trainClasses.Count < 2)
        {
            throw new InvalidDataException($"--data '{settings.Data}': the {trainCount} training images left by --validation-fraction {settings.ValidationFraction.ToString(CultureInfo.InvariantCulture)}{(settings.Limit is { } n ? $" and --limit {n}" : string.Empty)} all belong to class '{trainClasses.Single()}'; a classifier needs at least two (add images to the other classes or lower --validation-fraction).");
        }

        var summary = new DataSummary(settings.Data, description, classNames, trainCount, perClass, heldOutCount, heldOutName);
        return new TrainingData(train, heldOut, featureColumn, shape, classNames, summary);
    }

    /// <summary>At most <paramref name="limit"/> rows drawn uniformly: shuffled in one pool as large as the data.</summary>
    private static IDataView Sample(MLContext mlContext, IDataView data, int limit, int seed) =>
        mlContext.Data.TakeRows(mlContext.Data.ShuffleRows(data, seed, shufflePoolSize: Math.Max(2, Count(data))), limit);

    private static int Count(IDataView data) => data.GetColumn<uint>(ImageData.LabelColumnName).Count();
}
