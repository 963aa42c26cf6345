using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using Microsoft.ML;

namespace MLNetCnn.Serving;

/// <summary>
/// The units of the pixel vector a model was trained on. The trainer records the least and greatest training value of a
/// pixel-vector column in the model's ONNX metadata (<see cref="MetadataKey"/>), and a model served behind an image
/// decoder (<see cref="CnnServingCatalog.WithImageBytesInput"/>) gets its pixels in those units: 0..255 as decoded, or
/// 0..1 (ML.NET's <c>ExtractPixels(scaleImage: 1f / 255)</c>, and many CSV copies of MNIST-like sets). Before, every
/// model got 0..255, and one trained on 0..1 scored every image wrongly without a word.
/// </summary>
internal static class PixelUnits
{
    /// <summary>The least and greatest value above which pixels are not 0..1, and 0..255: a rescale's rounding may pass 1 or 255 by a hair.</summary>
    private const float Tolerance = 1e-3f;

    /// <summary>The ONNX metadata key: a JSON array of the least and greatest training pixel value.</summary>
    public const string MetadataKey = "mlnetcnn.pixel_range";

    /// <summary>
    /// The factor that turns 0..255 pixels into the units <paramref name="model"/> was trained on in
    /// <paramref name="column"/>: 1 for 0..255, 1/255 for 0..1, and 1 when the model records no range (models saved by
    /// earlier versions, or graphs from elsewhere, which were always given 0..255).
    /// </summary>
    /// <exception cref="ArgumentException">The recorded range is neither 0..255 nor 0..1, or not two numbers; the message names the column and the range.</exception>
    public static float Scale(MLContext mlContext, ITransformer model, DataViewSchema inputSchema, string column)
    {
        if (Recorded(mlContext, model, inputSchema, column) is not var (min, max))
        {
            return 1f;
        }

        if (min >= -Tolerance && max <= 1 + Tolerance)
        {
            return 1f / 255;
        }

        if (min >= -Tolerance && max <= 255 + Tolerance)
        {
            return 1f;
        }

        throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"The model was trained on pixel values in '{column}' from {min:G6} to {max:G6}, neither 0..255 nor 0..1, so the values it expects cannot be made from an image by scaling alone. Put the steps that made them in front of the model yourself (LoadImages or LoadRawImageBytes, ResizeImages, ExtractPixels with the offsetImage and scaleImage your training data used)."), nameof(model));
    }

    /// <summary>
    /// The range recorded for <paramref name="column"/>: a model of this library says what its graph records
    /// (<see cref="IRecordsPixelRange"/>: one trained or built in this process, or one from <c>LoadModel</c>, which read its
    /// graphs at load); any other chain is saved to memory and the graph that takes the column read.
    /// </summary>
    private static (float Min, float Max)? Recorded(MLContext mlContext, ITransformer model, DataViewSchema inputSchema, string column)
    {
        foreach (var known in ModelIntegrity.Flatten(model).OfType<IRecordsPixelRange>())
        {
            if (known.Records(column, out string? recorded))
            {
                return Parse(recorded, column);
            }
        }

        using var saved = new MemoryStream();
        try
        {
            mlContext.Model.Save(model, inputSchema, saved);
        }
        catch (InvalidOperationException e) when (e is not ObjectDisposedException)
        {
            // A step that cannot be saved (an application's CustomMapping without a contract) in a chain of no model of this
            // library: nothing records the units, as for a graph from elsewhere.
            return null;
        }

        saved.Position = 0;
        using var archive = new ZipArchive(saved, ZipArchiveMode.Read);
        foreach (var entry in archive.Entries.Where(e => e.FullName.EndsWith(ModelIntegrity.OnnxEntrySuffix, StringComparison.Ordinal)))
        {
            var graph = ModelIntegrity.ReadGraph(entry, "the model");
            if (OnnxShapes.Read(graph).Any(s => s.Kind == OnnxShapes.Input && s.Name == column))
            {
                return Parse(OnnxShapes.Metadata(graph).GetValueOrDefault(MetadataKey), column);
            }
        }

        return null;
    }

    /// <summary>The range in <paramref name="recorded"/> (the metadata's JSON), or null where nothing is recorded.</summary>
    /// <exception cref="ArgumentException">The text is not two finite numbers, the least first.</exception>
    private static (float Min, float Max)? Parse(string? recorded, string column)
    {
        if (recorded is null)
        {
            return null;
        }

        float[]? range = null;
        try
        {
            range = JsonSerializer.Deserialize<float[]>(recorded);
        }
        catch (JsonException)
        {
        }

        return range is [var min, var max] && float.IsFinite(min) && float.IsFinite(max) && min <= max
            ? (min, max)
            : throw new ArgumentException($"The model's ONNX metadata '{MetadataKey}' for '{column}' is '{recorded}', not the least and greatest training pixel value as two numbers.", "model");
    }
}

/// <summary>A model of this library that knows what its graph records of the units of its pixel input without being saved.</summary>
internal interface IRecordsPixelRange
{
    /// <summary>
    /// Whether the model's graph takes <paramref name="column"/>; then <paramref name="recorded"/> is its
    /// <see cref="PixelUnits.MetadataKey"/> metadata (JSON), null where none is recorded (an image column, an earlier version).
    /// </summary>
    bool Records(string column, out string? recorded);
}
