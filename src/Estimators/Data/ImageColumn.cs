using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Data;

/// <summary>Finding the trainer's image column and planning its conversion to pixels.</summary>
internal static class ImageColumn
{
    /// <summary>Image shape used for image, path and bytes columns when none is declared, for an architecture whose native input is 224.</summary>
    public static ImageShape DefaultImageShape { get; } = new(3, 224, 224);

    /// <summary>
    /// The shape an image column is resized to when none is declared: RGB at the architecture's native input size
    /// (<see cref="ArchitectureConfig.NativeInputSize"/>). Found by an outside sweep: every architecture got 224, so
    /// <c>MobileNetV1Config.For(0.5, resolution: 160)</c> trained at 224 without a word, and Inception v3, Xception and
    /// EfficientNet B1 to B7 away from the size their configs name.
    /// </summary>
    public static ImageShape DefaultFor(ArchitectureConfig architecture) => new(3, architecture.NativeInputSize, architecture.NativeInputSize);

    /// <summary>
    /// Finds the image column (<see cref="FeatureColumns.Resolve"/>) and, for images, paths or bytes, fits the conversion
    /// to <paramref name="declared"/> (or <see cref="DefaultFor"/> the architecture); a pixel vector's shape is declared or inferred.
    /// The shape must be square: the networks are built for an input size, not a height and a width.
    /// </summary>
    public static ImageColumnPlan Prepare(MLContext mlContext, IDataView input, string requested, ImageShape? declared, ArchitectureConfig architecture, Action<string>? log)
    {
        // Hidden columns (what an in-place MapValueToKey keeps behind its key) cannot be selected by name: not candidates, not listed.
        string column = FeatureColumns.Resolve(requested, input.Schema.Where(c => !c.IsHidden).Select(c => (c.Name, c.Type is VectorDataViewType v ? v.ItemType : c.Type, c.Type is not VectorDataViewType)));
        if (column != requested)
        {
            log?.Invoke($"no '{requested}' column: reading the image paths in '{column}'");
        }

        var type = input.Schema[column].Type;
        if (type is VectorDataViewType { IsKnownSize: true, ItemType: var item } && item == NumberDataViewType.Byte)
        {
            throw PixelBytes(column, $"{type}");
        }

        var kind = ImageInput.Classify(type);
        if (kind == ImageColumnKind.Pixels)
        {
            return new ImageColumnPlan(kind, column, column, Conversion: null, Square(declared?.Validate("ImageShape") ?? InferShape(input.Schema, column)));
        }

        RefuseReservedName(input.Schema.Select(c => c.Name), column);
        var shape = Square(declared?.Validate("ImageShape") ?? DefaultFor(architecture));
        if (declared is null)
        {
            log?.Invoke($"no ImageShape: images from '{column}' are resized to {shape}, the architecture's native input size");
        }

        var conversion = ImageInput.Conversion(mlContext, input, column, kind, shape.Channels, shape.Height, shape.Width);
        return new ImageColumnPlan(kind, column, ImageInput.PixelColumnName, conversion, shape);
    }

    /// <summary>
    /// Refuses a data column named as the pixel column the conversion of image column <paramref name="imageColumn"/> adds:
    /// found by a sweep, the whole network trained and then scoring failed on the user's column of that name.
    /// </summary>
    public static void RefuseReservedName(IEnumerable<string> columns, string imageColumn)
    {
        if (columns.Contains(ImageInput.PixelColumnName, StringComparer.Ordinal))
        {
            throw new ArgumentException($"The data has a column named '{ImageInput.PixelColumnName}', the name of the pixel column the model makes from image column '{imageColumn}'; rename or drop it (mlContext.Transforms.DropColumns) before training.");
        }
    }

    /// <summary>
    /// The error for a known-size vector of Byte as the image column. Encoded image files (<c>LoadRawImageBytes</c>) come
    /// as a variable-size vector; a known-size one holds pixels (<c>ExtractPixels(outputAsFloatArray: false)</c>), which
    /// an outside sweep saw taken for a file and refused in the first read as "not a decodable image".
    /// </summary>
    /// <param name="column">The image column's name.</param>
    /// <param name="found">Its type, as far as the caller knows it.</param>
    public static ArgumentException PixelBytes(string column, string found) => new(
        $"Feature column '{column}' is a known-size vector of Byte ({found}): pixels, as ExtractPixels gives them with outputAsFloatArray: false. "
        + "The trainer reads pixels as a known-size vector of Single (ExtractPixels with outputAsFloatArray: true, ML.NET's default, or "
        + "mlContext.Transforms.Conversion.ConvertType to Single) and a vector of Byte as an encoded image file, which LoadRawImageBytes gives as a variable-size vector.");

    private static ImageShape Square(ImageShape shape) => shape.Height == shape.Width
        ? shape
        : throw new ArgumentException($"Image shape {shape}: only square images are supported; resize in the pipeline first.");

    /// <summary>A square grey or RGB image from a pixel vector's size.</summary>
    private static ImageShape InferShape(DataViewSchema schema, string column)
    {
        if (schema[column].Type is VectorDataViewType { Size: > 0 } vector)
        {
            int side = (int)Math.Round(Math.Sqrt(vector.Size));
            if (side * side == vector.Size)
            {
                return new ImageShape(1, side, side);
            }

            side = (int)Math.Round(Math.Sqrt(vector.Size / 3.0));
            if (3 * side * side == vector.Size)
            {
                return new ImageShape(3, side, side);
            }

            throw new ArgumentException($"Feature column '{column}' has {vector.Size} values, which is not a square grey or RGB image; set Options.ImageShape.");
        }

        DataViewImageReader.CheckFeatureColumn(schema, column, new ImageShape(1, 1, 1));
        throw new InvalidOperationException("unreachable");
    }
}
