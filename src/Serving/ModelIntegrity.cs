using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Transforms;

namespace MLNetCnn.Serving;

/// <summary>
/// Checks a saved model before and after ML.NET loads it. Before: every ONNX graph in the zip must load in ONNX
/// Runtime (ML.NET copies a graph to a temporary file and leaves the copy behind when the graph is corrupt, then
/// fails five wrappers deep). After: the graph's <c>Score</c> width must equal the number of class names the chain
/// maps its arg-max to, or every prediction would be printed against the wrong names.
/// </summary>
internal static class ModelIntegrity
{
    private const string OnnxEntrySuffix = "/OnnxModel"; // the binary stream ML.NET's OnnxTransformer saves: an int32 length, then the graph

    /// <summary>Loads each ONNX graph of the zip in ONNX Runtime and returns the last dimension of its <c>Score</c> output, if any.</summary>
    /// <exception cref="InvalidDataException">The stream is not a zip, or a graph does not load; the message names <paramref name="source"/>.</exception>
    public static int? CheckGraphs(Stream zip, string source)
    {
        ZipArchive archive;
        try
        {
            archive = new ZipArchive(zip, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"Model '{source}' is not a model zip saved by mlContext.Model.Save: {e.Message}", e);
        }

        using (archive)
        {
            int? width = null;
            foreach (var entry in archive.Entries)
            {
                if (entry.FullName.EndsWith(OnnxEntrySuffix, StringComparison.Ordinal))
                {
                    width = Width(ReadGraph(entry, source), entry.FullName, source) ?? width;
                }
                else
                {
                    CheckCrc(entry, Inflate(entry, source, Crc32.Of), source);
                }
            }

            return width;
        }
    }

    /// <summary>Throws when the model's graph scores another number of classes than the chain has names for; disposes the model then.</summary>
    public static void CheckClassCount(ITransformer model, int? width, string source)
    {
        if (width is not { } classes || ClassNameCount(model) is not { } names || classes == names)
        {
            return;
        }

        (model as IDisposable)?.Dispose();
        throw Mismatch(source, classes, names);
    }

    /// <summary>The same check on a scored schema: the <c>Score</c> vector's size against the <c>PredictedLabel</c> key count.</summary>
    public static void CheckClassCount(DataViewSchema scored, int names)
    {
        if (scored.GetColumnOrNull(ServingPipeline.ScoreColumnName)?.Type is VectorDataViewType { Size: > 0 } score && score.Size != names)
        {
            throw Mismatch("scored by this schema", score.Size, names);
        }
    }

    private static InvalidDataException Mismatch(string source, int classes, int names) =>
        new($"Model '{source}': its ONNX graph scores {classes} classes but the model has {names} class names; the graph was replaced or the zip was assembled from two models. Every prediction would be named wrongly.");

    private static byte[] ReadGraph(ZipArchiveEntry entry, string source)
    {
        if (entry.Length is < 4 or > int.MaxValue)
        {
            throw new InvalidDataException($"Model '{source}': entry '{entry.FullName}' declares {entry.Length} bytes, which is no ONNX graph.");
        }

        var bytes = Inflate(entry, source, stream =>
        {
            var graph = new byte[entry.Length];
            stream.ReadExactly(graph);
            return graph;
        });
        CheckCrc(entry, Crc32.Of(bytes), source);

        if (BinaryPrimitives.ReadInt32LittleEndian(bytes) != bytes.Length - 4)
        {
            throw new InvalidDataException($"Model '{source}': entry '{entry.FullName}' announces {BinaryPrimitives.ReadInt32LittleEndian(bytes)} bytes of ONNX graph but holds {bytes.Length - 4}.");
        }

        return bytes[4..];
    }

    /// <summary>Opens an entry and reads it; the zip layer's errors (a corrupt header, an unknown compression method, data that ends early) name the model and the entry.</summary>
    private static T Inflate<T>(ZipArchiveEntry entry, string source, Func<Stream, T> read)
    {
        try
        {
            using var stream = entry.Open();
            return read(stream);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException)
        {
            throw new InvalidDataException($"Model '{source}': entry '{entry.FullName}' cannot be read, so the zip is damaged: {e.Message}", e);
        }
    }

    /// <summary>
    /// A bit flipped inside a compressed entry often still inflates, to other bytes: weights that load and score, wrongly.
    /// The zip's CRC-32 of each entry is what catches it (neither .NET's ZipArchive nor ML.NET compares it).
    /// </summary>
    private static void CheckCrc(ZipArchiveEntry entry, uint crc, string source)
    {
        if (crc != entry.Crc32)
        {
            throw new InvalidDataException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Model '{source}': entry '{entry.FullName}' fails its checksum (CRC-32 {crc:x8}, the zip records {entry.Crc32:x8}), so the zip is damaged."));
        }
    }

    private static int? Width(byte[] graph, string entry, string source)
    {
        try
        {
            using var session = new InferenceSession(graph);
            return session.OutputMetadata.TryGetValue(ServingPipeline.ScoreColumnName, out var score) && score.Dimensions is [.., > 0 and var last] ? last : null;
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"Model '{source}': its ONNX graph ('{entry}') does not load in ONNX Runtime, so the zip is damaged: {e.Message}", e);
        }
    }

    /// <summary>The key count of the chain's <c>PredictedLabel</c> (its class names), found without needing the model's input columns.</summary>
    private static int? ClassNameCount(ITransformer model)
    {
        // The mapping's input is the class value, of the label's key-value type: each type PredictedLabel keeps is tried.
        foreach (var mapping in Flatten(model).OfType<ValueToKeyMappingTransformer>())
        {
            foreach (var type in ClassKeyValues.ValueTypes)
            {
                var input = new DataViewSchema.Builder();
                input.AddColumn(ServingPipeline.PredictedValueColumnName, type);
                try
                {
                    if (mapping.GetOutputSchema(input.ToSchema()).GetColumnOrNull(ServingPipeline.PredictedLabelColumnName)?.Type is KeyDataViewType key)
                    {
                        return (int)key.Count;
                    }
                }
                catch (Exception e) when (e is ArgumentOutOfRangeException or InvalidOperationException)
                {
                    // Another type (InvalidOperationException), or a mapping of some other column of the user's pipeline.
                }
            }
        }

        return null;
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer transformer) =>
        transformer is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [transformer];
}
