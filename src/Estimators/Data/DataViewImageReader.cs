using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Data;

/// <summary>
/// Checks the schema of the trainer's input: a key label column and a pixel column of the image's size
/// (<see cref="DataViewImageSource"/> reads the rows).
/// </summary>
internal static class DataViewImageReader
{
    /// <summary>How the columns the image conversion adds (<see cref="ImageInput.PixelColumnName"/>, ...) begin.</summary>
    private const string InternalPrefix = "mlnetcnn_";

    /// <summary>
    /// The error for a label column the data lacks, listing the data's columns (not the image conversion's own
    /// <c>mlnetcnn_</c> steps). When the name is an architecture's, it says that the label column comes first: found by an
    /// outside sweep, <c>ImageClassification("resnet18")</c>, read as README's "takes a registered name as a shortcut",
    /// looked for a label column named "resnet18".
    /// </summary>
    public static ArgumentOutOfRangeException LabelNotFound(string parameter, string labelColumnName, IEnumerable<string> columns)
    {
        var names = columns.Where(n => !n.StartsWith(InternalPrefix, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal);
        string hint = ModelRegistry.Names.Contains(labelColumnName, StringComparer.OrdinalIgnoreCase)
            ? $" '{labelColumnName}' is an architecture: the first argument of ImageClassification is the label column's name, so give the architecture as arch: \"{labelColumnName}\"."
            : string.Empty;
        return new ArgumentOutOfRangeException(parameter, $"Label column '{labelColumnName}' not found. Columns: {string.Join(", ", names)}.{hint}");
    }

    /// <summary>Checks the column types and returns the label's class count and class names.</summary>
    public static (int NumClasses, IReadOnlyList<string> ClassNames) CheckSchema(DataViewSchema schema, string labelColumnName, string featureColumnName, ImageShape shape)
    {
        var label = schema.GetColumnOrNull(labelColumnName)
            ?? throw LabelNotFound(nameof(labelColumnName), labelColumnName, schema.Where(c => !c.IsHidden).Select(c => c.Name));
        if (label.Type is not KeyDataViewType key)
        {
            throw new ArgumentException($"Label column '{labelColumnName}' must be a key type (use mlContext.Transforms.Conversion.MapValueToKey); found {label.Type}.");
        }

        if (key.RawType != typeof(uint))
        {
            throw new ArgumentException($"Label column '{labelColumnName}' is a key of {key.RawType.Name}; expected a key of UInt32, what MapValueToKey makes. Make it one where it is made: a uint property with [KeyType(count)], a TextLoader.Column of DataKind.UInt32 with a KeyCount, or MapValueToKey on the raw values. (ConvertType to UInt32 keeps it a key but shifts its values by one in ML.NET 5, and MapKeyToValue needs key values it does not have.)");
        }

        if (key.Count < 2)
        {
            throw new ArgumentException($"Label column '{labelColumnName}' must have at least 2 classes; its key type has {key.Count}.");
        }

        if (key.Count > int.MaxValue)
        {
            throw new ArgumentException($"Label column '{labelColumnName}' has {key.Count} classes; at most {int.MaxValue} are supported.");
        }

        CheckFeatureColumn(schema, featureColumnName, shape);
        var names = ClassNames(label, (int)key.Count);
        if (names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twins)
        {
            // Found by a sweep: DateTime keys 1 ms apart print alike, and PredictedLabel merged their classes silently.
            throw new ArgumentException($"Label column '{labelColumnName}' has {twins.Count()} classes whose key values read alike as text ('{twins.Key}'); the model names its classes by that text, so map the label to distinct values (e.g. strings) before MapValueToKey.");
        }

        return ((int)key.Count, names);
    }

    /// <summary>Checks that the feature column is a float vector of exactly C x H x W values.</summary>
    public static void CheckFeatureColumn(DataViewSchema schema, string featureColumnName, ImageShape shape)
    {
        var features = schema.GetColumnOrNull(featureColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(featureColumnName), $"Feature column '{featureColumnName}' not found. Columns: {string.Join(", ", schema.Select(c => c.Name))}.");
        if (features.Type is not VectorDataViewType vector || vector.ItemType != NumberDataViewType.Single)
        {
            throw new ArgumentException($"Feature column '{featureColumnName}' must be a vector of Single holding {shape} = {shape.Size} pixel values; found {features.Type}.");
        }

        if (vector.Size != shape.Size)
        {
            throw new ArgumentException($"Feature column '{featureColumnName}' has {(vector.Size == 0 ? "variable-size vectors" : $"{vector.Size} values")} but the image shape {shape} needs {shape.Size}.");
        }

        CheckPixelOrder(featureColumnName, vector, shape);
    }

    /// <summary>
    /// Refuses a pixel vector whose dimensions (<c>ExtractPixels</c> records them) are not <paramref name="shape"/>'s
    /// channels, height and width. Found by an outside sweep: <c>ExtractPixels(interleavePixelColors: true)</c> gives
    /// H x W x C, which trained as C x H x W without a word. A one-channel H x W x 1 holds the same values in the same
    /// order, so it passes.
    /// </summary>
    private static void CheckPixelOrder(string featureColumnName, VectorDataViewType vector, ImageShape shape)
    {
        var d = vector.Dimensions;
        if (d.Length != 3 || (d[0] == shape.Channels && d[1] == shape.Height && d[2] == shape.Width)
            || (shape.Channels == 1 && d[0] == shape.Height && d[1] == shape.Width && d[2] == 1))
        {
            return;
        }

        string hint = d[0] == shape.Height && d[1] == shape.Width && d[2] == shape.Channels
            ? " They are height x width x channels, as ExtractPixels gives them with interleavePixelColors: true; extract with interleavePixelColors: false (ML.NET's default), which gives channels first."
            : " Resize the images to the image shape's height and width before ExtractPixels, or set Options.ImageShape to the column's dimensions.";
        throw new ArgumentException($"Feature column '{featureColumnName}' is {vector}, but the model reads its values as the image shape {shape} (channels x height x width).{hint}");
    }

    private static IReadOnlyList<string> ClassNames(DataViewSchema.Column label, int count) =>
        ClassKeyValues.AsText(label, count) ?? Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
}
