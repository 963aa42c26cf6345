using MLNetCnn.Architectures.Models;
using MLNetCnn.Cli.CommandLine;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Augmentation;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Cli.Commands;

/// <summary>The <c>train</c> command line, checked in full before any data is read.</summary>
internal sealed record TrainSettings(
    string Data,
    FashionMnistSource? FashionMnist,
    string Output,
    ModelDefinition Architecture,
    double? Width,
    int ImageSize,
    int Channels,
    int Epochs,
    int BatchSize,
    double? LearningRate,
    string Recipe,
    double? LabelSmoothing,
    double Mixup,
    TrainingPrecision Precision,
    double ValidationFraction,
    int? Limit,
    int Seed,
    string? TestData,
    AugmentationOptions? Augmentation,
    bool TestTimeFlip,
    TimeSpan? TimeLimit)
{
    /// <summary>The smallest image side <c>train</c> and <c>summary</c> take: below it most networks pool their maps away.</summary>
    public const int MinImageSize = 8;

    /// <summary>The largest image side <c>train</c> and <c>summary</c> take (EfficientNet-B7's native size is 600).</summary>
    public const int MaxImageSize = 1024;

    public const string DefaultRecipe = "default";
    public const string BaselineRecipe = "baseline";
    public const string BagOfTricksRecipe = "bag-of-tricks";

    public static readonly IReadOnlyDictionary<string, string> RecipeDescriptions = new Dictionary<string, string>
    {
        [DefaultRecipe] = "the library's defaults: SGD momentum 0.9, weight decay 5e-4, cosine decay",
        [BaselineRecipe] = "the Bag of Tricks baseline: SGD momentum 0.9, weight decay 1e-4, learning rate 0.1 x batch / 256, step decay",
        [BagOfTricksRecipe] = "Bag of Tricks: Nesterov, weight decay 1e-4 without bias decay, learning rate 0.1 x batch / 256, warmup + cosine, zero gamma, label smoothing 0.1",
    };

    /// <summary>The <c>--data</c> names that mean Fashion-MNIST rather than a folder (write <c>./fashion-mnist</c> for a folder of that name).</summary>
    public static readonly IReadOnlyDictionary<string, FashionMnistSource> FashionMnistNames = new Dictionary<string, FashionMnistSource>(StringComparer.OrdinalIgnoreCase)
    {
        ["fashion-mnist"] = FashionMnistSource.Auto,
        ["fashion-mnist-embedded"] = FashionMnistSource.Embedded,
        ["fashion-mnist-full"] = FashionMnistSource.Full,
    };

    public static readonly IReadOnlyList<OptionSpec> Options =
    [
        new("data", "<source>", "Folder with one sub-folder of images per class, or fashion-mnist (the full set when installed, else the embedded subset), fashion-mnist-embedded or fashion-mnist-full."),
        new("output", "<dir>", "Folder for the model, metrics, plots and report (created when missing)."),
        new("arch", "<name>", $"Architecture (default {ImageClassificationTrainer.Defaults.Arch}; 'mlnetcnn list' shows all)."),
        new("width", "<W>", "Channel width multiplier; it replaces the architecture's own width (MobileNet's alpha included) (default: the architecture's, 1.0 for most; 0.25 is a small, fast network)."),
        new("image-size", "<N>", "Images are resized to N x N pixels (default 28; Fashion-MNIST is 28)."),
        new("channels", "<1|3>", "1 (grey) or 3 (RGB) (default 3 for a folder; Fashion-MNIST is 1)."),
        new("epochs", "<N>", $"Passes over the training data (default {ImageClassificationTrainer.Defaults.Epoch}; with --time-limit, the most)."),
        new("time-limit", "<T>", $"Train for about this long ({DurationText.Syntax}), reading the data included: after each epoch the run plans the epochs that fit, at most --epochs, and the learning-rate schedule spans them (default: no limit)."),
        new("batch", "<N>", $"Images per step (default {ImageClassificationTrainer.Defaults.BatchSize})."),
        new("lr", "<X>", $"Peak learning rate (default {ImageClassificationTrainer.Defaults.LearningRate}, or the recipe's 0.1 x batch / 256)."),
        new("recipe", "<name>", $"{BaselineRecipe} (Bag of Tricks baseline: step decay, wd 1e-4) or {BagOfTricksRecipe} (Nesterov, warmup + cosine, no bias decay, zero gamma, label smoothing 0.1); default: the library's (cosine decay, wd 5e-4)."),
        new("label-smoothing", "<e>", "Label smoothing epsilon in [0, 1) (default 0, or the recipe's)."),
        new("mixup", "<alpha>", "Mixup with lambda ~ Beta(alpha, alpha), e.g. 0.2 (default 0: off)."),
        new("precision", "<auto|fp32|bf16>", "Training arithmetic (default auto: bf16 where the CPU computes it natively, e.g. AVX512_BF16, fp32 elsewhere)."),
        new("validation-fraction", "<f>", "Share of each class of a folder's images held out for validation and the final metrics (default 0.2)."),
        new("limit", "<N>", "Use a random N training and at most N held-out images (quick runs)."),
        new("seed", "<N>", "Seed of initialization, shuffling and the split (default 1)."),
        new("augment", "<list>", $"Training-time augmentation, drawn afresh for every image every epoch: {AugmentationList.Syntax}. flip mirrors (p 0.5), crop takes 70-100 % of the area resized back, shift moves up to 2 pixels with black fill, erase replaces a box of 2-40 % with noise (p 0.5) (default none)."),
        new("test-time-flip", "", "Score every image and its mirror and output the mean of the two, in the final metrics and in the saved model (about twice the scoring time)."),
        new("test-data", "<folder>", "A labelled test folder (sub-folders named as the classes; some may be missing): the final metrics, report and confusion matrix are computed on it instead of the held-out images."),
        DecodeLimitOption.Spec,
    ];

    public bool IsFolder => FashionMnist is null;

    /// <summary>The width the model is built with: --width, else the architecture's own.</summary>
    public double EffectiveWidth => Width ?? Architecture.Config.Width;

    public static TrainSettings From(Arguments arguments)
    {
        if (arguments.Positionals.Count > 0)
        {
            throw new UsageException($"unexpected argument '{arguments.Positionals[0]}' (options are written --name value).");
        }

        string data = arguments.Required("data");
        string output = arguments.Required("output");
        var fashionMnist = FashionMnistNames.TryGetValue(data, out var source) ? source : (FashionMnistSource?)null;
        int? size = arguments.Has("image-size") ? arguments.Int("image-size", 0, min: MinImageSize, max: MaxImageSize) : null;
        int? channels = arguments.Has("channels") ? (arguments.Choice("channels", "3", "1", "3") == "1" ? 1 : 3) : null;

        if (fashionMnist is not null && (size is not (null or 28) || channels is not (null or 1)))
        {
            throw new UsageException("Fashion-MNIST images are 28 x 28 grey: leave out --image-size and --channels (or give 28 and 1).");
        }

        const string Pictures = "its pictures (loss.png, accuracy.png, confusion.png) would be read as images of a class by the next run on that folder";
        CheckOutsideOf("output", output, "data", fashionMnist is null ? data : null, Pictures);
        CheckOutsideOf("output", output, "test-data", arguments.Text("test-data"), Pictures);
        CheckOutsideOf("test-data", arguments.Text("test-data"), "data", fashionMnist is null ? data : null, "its images would be trained on as well as tested on, so the final metrics would not be on unseen images");

        return new TrainSettings(
            data,
            fashionMnist,
            output,
            ZooCommands.Architecture(arguments.Text("arch") ?? ImageClassificationTrainer.Defaults.Arch),
            arguments.Has("width") ? arguments.Number("width", 1.0, min: ArchitectureConfig.MinWidth, max: 16) : null,
            size ?? 28,
            channels ?? (fashionMnist is null ? 3 : 1),
            arguments.Int("epochs", ImageClassificationTrainer.Defaults.Epoch, min: 1, max: 100_000),
            arguments.Int("batch", ImageClassificationTrainer.Defaults.BatchSize, min: 1, max: 65_536),
            arguments.Has("lr") ? arguments.Number("lr", 0, min: 0, max: 100, minExclusive: true) : null,
            arguments.Choice("recipe", DefaultRecipe, DefaultRecipe, BaselineRecipe, BagOfTricksRecipe),
            arguments.Has("label-smoothing") ? arguments.Number("label-smoothing", 0, min: 0, max: 0.999) : null,
            arguments.Number("mixup", 0, min: 0, max: 100),
            arguments.Choice("precision", "auto", "auto", "fp32", "bf16") switch { "bf16" => TrainingPrecision.BFloat16, "fp32" => TrainingPrecision.Float32, _ => TrainingPrecision.Auto },
            arguments.Number("validation-fraction", 0.2, min: 0, max: 0.9, minExclusive: true),
            arguments.Has("limit") ? arguments.Int("limit", 0, min: 10) : null,
            arguments.Int("seed", 1, min: 0),
            arguments.Text("test-data") is { } test && !Directory.Exists(test) ? throw new DirectoryNotFoundException($"--test-data: folder '{test}' does not exist.") : arguments.Text("test-data"),
            ParseAugmentation(arguments.Text("augment")),
            arguments.Flag("test-time-flip"),
            ParseTimeLimit(arguments.Text("time-limit")));
    }

    private static TimeSpan? ParseTimeLimit(string? text)
    {
        try
        {
            return text is null ? null : DurationText.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException($"--time-limit: {e.Message}");
        }
    }

    /// <summary>
    /// Refuses a folder of this run (--output, --test-data) that is, or lies inside, an image folder it reads (--data,
    /// --test-data), as <paramref name="why"/> says. Found by an outside sweep: the next run into the same --output read its
    /// loss.png, accuracy.png and confusion.png as one more class, without a word; a --test-data inside --data was
    /// trained on. A hidden folder (a name starting with '.') is never read, so it may lie inside.
    /// </summary>
    private static void CheckOutsideOf(string option, string? path, string folderOption, string? folder, string why)
    {
        if (path is null || folder is null)
        {
            return;
        }

        // Compared with their links resolved: an --output reached through a link into --data is inside it all the same.
        string inside = Path.GetRelativePath(FolderWalk.RealPath(folder), FolderWalk.RealPath(path));
        bool outside = inside == ".." || inside.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal) || Path.IsPathRooted(inside);
        if (!outside && !inside.Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.') && part != "."))
        {
            throw new UsageException($"--{option} '{path}' is {(inside == "." ? "the same folder as" : "inside")} --{folderOption} '{folder}': {why}. Give a --{option} outside it (or a folder whose name starts with '.', which is never read).");
        }
    }

    private static AugmentationOptions? ParseAugmentation(string? text)
    {
        try
        {
            return text is null ? null : AugmentationList.Parse(text) is { IsIdentity: false } options ? options : null;
        }
        catch (FormatException e)
        {
            throw new UsageException($"--augment: {e.Message}");
        }
    }
}
