using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.Data;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Cli.Output;

/// <summary>Everything <c>train</c> records about a run; written as <c>metrics.json</c> and shown by <c>report.html</c>.</summary>
internal sealed record TrainingReport(
    string CommandLine,
    DateTimeOffset Started,
    RunSettings Settings,
    DataSummary Data,
    IReadOnlyList<EpochRecord> Epochs,
    FinalMetrics Final,
    Timing Timing)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public void WriteJson(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json));
}

/// <summary>How the model was trained.</summary>
internal sealed record RunSettings(string Architecture, double WidthMultiplier, string ImageShape, string Recipe, int Epochs, int BatchSize, double LearningRate, double LabelSmoothing, double? MixupAlpha, string Augmentation, bool TestTimeFlip, string Precision, int Seed, string Kernels, double? TimeLimitSeconds = null);

/// <summary>What it was trained and evaluated on.</summary>
/// <param name="Source">The <c>--data</c> argument.</param>
/// <param name="Description">What that turned out to be (a folder's full path, which Fashion-MNIST set).</param>
/// <param name="ClassNames">Class names in label order.</param>
/// <param name="TrainImages">Training images.</param>
/// <param name="TrainImagesPerClass">Training images of each class, in <paramref name="ClassNames"/> order.</param>
/// <param name="HeldOutImages">Images of the held-out set (validation after every epoch, and the final metrics).</param>
/// <param name="HeldOut">What the held-out set is, e.g. "validation split (20 %)" or "test split".</param>
internal sealed record DataSummary(string Source, string Description, IReadOnlyList<string> ClassNames, int TrainImages, IReadOnlyList<int> TrainImagesPerClass, int HeldOutImages, string HeldOut)
{
    /// <summary>Files of the folder not read: not images by extension (.tif, none), or outside any class folder.</summary>
    public LeftOut IgnoredFiles { get; init; } = LeftOut.None;

    /// <summary>Image files that did not decode, each with the reason.</summary>
    public LeftOut SkippedImages { get; init; } = LeftOut.None;

    /// <summary>Class folders that gave no image, so name no class.</summary>
    public LeftOut EmptyClassFolders { get; init; } = LeftOut.None;
}

/// <summary>Things a run left out: how many, and the first <see cref="MaxNames"/> of them (paths, or a path with its reason).</summary>
internal sealed record LeftOut(int Count, IReadOnlyList<string> Names)
{
    public const int MaxNames = 100;

    /// <summary>
    /// Extensions of images that cameras, phones and browsers write and that the decoder does not read: "not images by
    /// their extension" reads wrong for them, and a phone's folder of .heic photos became a class folder without images.
    /// </summary>
    private static readonly HashSet<string> UnreadImageFormats = new(StringComparer.OrdinalIgnoreCase)
    {
        ".heic", ".heif", ".avif", ".tif", ".tiff", ".jxl", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".psd", ".svg", ".ico",
    };

    public static LeftOut None { get; } = new(0, []);

    public static LeftOut Of(IReadOnlyList<string> all) => new(all.Count, all.Take(MaxNames).ToList());

    /// <summary>
    /// How many of the <paramref name="ignored"/> files are images in a format the decoder does not read, by extension, and
    /// what to do with them; null when none is.
    /// </summary>
    public static string? UnreadImages(IReadOnlyList<string> ignored)
    {
        var formats = ignored.Select(Path.GetExtension).OfType<string>().Where(UnreadImageFormats.Contains)
            .GroupBy(e => e.ToLowerInvariant()).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        int count = formats.Sum(g => g.Count());
        return count == 0 ? null
            : $"{count} of the files ignored {(count == 1 ? "is an image" : "are images")} in a format not decoded here ({string.Join(", ", formats.Select(g => $"{g.Key}: {g.Count()}"))}): convert {(count == 1 ? "it" : "them")} to JPEG or PNG.";
    }

    /// <summary>
    /// "3 files that are not images: a.tif, b, c" with at most <paramref name="shown"/> names, or null when there are none.
    /// Control characters in a name are written as escapes, as predict writes paths: macOS's <c>Icon\r</c> file (a folder's
    /// custom icon) sent the cursor back over the line.
    /// </summary>
    public static string? Describe(IReadOnlyList<string> all, string singular, string plural, int shown = 5) => all.Count == 0
        ? null
        : $"{all.Count} {(all.Count == 1 ? singular : plural)}: {string.Join(", ", all.Take(shown).Select(n => ClassFolderNames.Visible(n)))}{(all.Count > shown ? $" and {all.Count - shown} more" : string.Empty)}";
}

/// <summary>One epoch of <c>TrainingHistory</c>.</summary>
internal sealed record EpochRecord(int Epoch, double TrainLoss, double TrainAccuracy, double? ValidationLoss, double? ValidationAccuracy, double LearningRate, double Seconds, double ImagesPerSecond)
{
    public static EpochRecord From(EpochMetrics m) =>
        new(m.Epoch, m.TrainLoss, m.TrainAccuracy, m.ValidationLoss, m.ValidationAccuracy, m.LearningRate, m.Elapsed.TotalSeconds, m.ImagesPerSecond);
}

/// <summary>
/// ML.NET's multiclass metrics of the final model on the held-out set (<c>Accuracy</c> is ML.NET's micro-accuracy).
/// <c>ConfusionMatrix</c> holds counts: row = actual class, column = predicted class, in <see cref="DataSummary.ClassNames"/> order.
/// </summary>
internal sealed record FinalMetrics(string EvaluatedOn, long Images, double Accuracy, double MacroAccuracy, double LogLoss, double LogLossReduction, IReadOnlyList<ClassMetrics> PerClass, [property: JsonConverter(typeof(OneLinePerRow))] IReadOnlyList<IReadOnlyList<long>> ConfusionMatrix)
{
    public static FinalMetrics From(MulticlassClassificationMetrics metrics, IReadOnlyList<string> classNames, string evaluatedOn)
    {
        var matrix = metrics.ConfusionMatrix;
        var counts = matrix.Counts.Select(row => (IReadOnlyList<long>)row.Select(c => (long)Math.Round(c)).ToList()).ToList();
        var perClass = classNames.Select((name, i) => new ClassMetrics(
            name,
            counts[i].Sum(),
            counts[i][i],
            counts[i].Sum() == 0 ? null : matrix.PerClassRecall[i],
            counts.Sum(row => row[i]) == 0 ? null : matrix.PerClassPrecision[i])).ToList();
        return new FinalMetrics(evaluatedOn, counts.Sum(r => r.Sum()), metrics.MicroAccuracy, metrics.MacroAccuracy, metrics.LogLoss, metrics.LogLossReduction, perClass, counts);
    }

    /// <summary>
    /// Files of a test folder not read (not images by extension, or outside any class folder); none for a held-out set,
    /// whose folder's are in <see cref="DataSummary.IgnoredFiles"/>.
    /// </summary>
    public LeftOut IgnoredFiles { get; init; } = LeftOut.None;

    /// <summary>Images of a test folder left out of these metrics because they did not decode, each with the reason.</summary>
    public LeftOut SkippedImages { get; init; } = LeftOut.None;
}

/// <summary>
/// Writes a matrix one row a line: indented JSON gave every count a line of its own, so 1,700 classes made a
/// 32 MB metrics.json of 2.9 million lines.
/// </summary>
internal sealed class OneLinePerRow : JsonConverter<IReadOnlyList<IReadOnlyList<long>>>
{
    public override IReadOnlyList<IReadOnlyList<long>> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        JsonSerializer.Deserialize<List<List<long>>>(ref reader, options)!;

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<IReadOnlyList<long>> value, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (var row in value)
        {
            // A raw value gets no line break of its own; the indent is that of final.confusionMatrix's rows.
            writer.WriteRawValue("\n      [" + string.Join(",", row.Select(c => c.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]", skipInputValidation: true);
        }

        writer.WriteEndArray();
    }
}

/// <summary>
/// One class: held-out images, how many were right, recall (= the class's accuracy) and precision; recall is null for a
/// class without images and precision for a class never predicted (ML.NET gives 0 for both, which metrics.json and
/// report.html printed as 0 %, while evaluate printed "-").
/// </summary>
internal sealed record ClassMetrics(string Name, long Count, long Correct, double? Recall, double? Precision);

/// <summary>Wall-clock seconds of each phase.</summary>
internal sealed record Timing(double LoadSeconds, double TrainSeconds, double EvaluateSeconds, double SaveSeconds, double TotalSeconds);
