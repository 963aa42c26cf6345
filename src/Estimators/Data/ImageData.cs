using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Data;

/// <summary>
/// Builds ML.NET data views of images: a key-typed <c>Label</c> whose key values are the class names
/// (in class-index order) and a <c>Features</c> float vector of pixel values (0..255), channels first.
/// </summary>
public static class ImageData
{
    /// <summary>Name of the label column the loaders produce.</summary>
    public const string LabelColumnName = "Label";

    /// <summary>Name of the image column the loaders produce.</summary>
    public const string FeatureColumnName = "Features";

    /// <summary>Reads an IDX image file ([N, H, W] unsigned bytes) and its IDX label file ([N]) into a data view.</summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="imagesPath">Image file (raw or gzip).</param>
    /// <param name="labelsPath">Label file (raw or gzip).</param>
    /// <param name="classNames">Name of each class index; the label file's values must be indices into it.</param>
    public static IDataView LoadIdx(MLContext mlContext, string imagesPath, string labelsPath, IReadOnlyList<string> classNames) =>
        FromIdx(mlContext, IdxReader.Read(imagesPath), imagesPath, IdxReader.Read(labelsPath), labelsPath, classNames);

    /// <summary>Wraps grey images (bytes) and 0-based labels as a data view with a key label.</summary>
    public static IDataView FromBytes(MLContext mlContext, byte[] pixels, int[] labels, ImageShape shape, IReadOnlyList<string> classNames)
    {
        if (pixels.Length != (long)labels.Length * shape.Size)
        {
            throw new ArgumentException($"Expected {labels.Length} images of {shape} = {(long)labels.Length * shape.Size} pixels; found {pixels.Length}.", nameof(pixels));
        }

        int size = shape.Size;
        var rows = labels.Select((label, i) => new Row
        {
            Label = classNames[label],
            Features = Array.ConvertAll(pixels[(i * size)..((i + 1) * size)], b => (float)b),
        });
        return WithClassNames(mlContext, rows, size, classNames);
    }

    internal static IDataView FromIdx(MLContext mlContext, IdxArray images, string imagesName, IdxArray labels, string labelsName, IReadOnlyList<string> classNames)
    {
        if (images.Dimensions.Count != 3)
        {
            throw new InvalidDataException($"IDX image file '{imagesName}' must have 3 dimensions [N, H, W]; found [{string.Join(", ", images.Dimensions)}].");
        }

        if (labels.Dimensions.Count != 1)
        {
            throw new InvalidDataException($"IDX label file '{labelsName}' must have 1 dimension [N]; found [{string.Join(", ", labels.Dimensions)}].");
        }

        if (images.Dimensions[0] != labels.Dimensions[0])
        {
            throw new InvalidDataException($"IDX files disagree: '{imagesName}' has {images.Dimensions[0]} images but '{labelsName}' has {labels.Dimensions[0]} labels.");
        }

        int bad = Array.FindIndex(labels.Data, l => l >= classNames.Count);
        if (bad >= 0)
        {
            throw new InvalidDataException($"IDX label file '{labelsName}' has label {labels.Data[bad]} at row {bad}; expected 0..{classNames.Count - 1} for the {classNames.Count} class names given.");
        }

        var shape = new ImageShape(1, images.Dimensions[1], images.Dimensions[2]);
        return FromBytes(mlContext, images.Data, Array.ConvertAll(labels.Data, l => (int)l), shape, classNames);
    }

    private static IDataView WithClassNames(MLContext mlContext, IEnumerable<Row> rows, int size, IReadOnlyList<string> classNames)
    {
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        return ImageFolder.KeyedLabels(mlContext, mlContext.Data.LoadFromEnumerable(rows, schema), classNames);
    }

    private sealed class Row
    {
        public string Label { get; set; } = string.Empty;

        public float[] Features { get; set; } = Array.Empty<float>();
    }
}
