using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Onnx;

namespace MLNetCnn.Serving;

/// <summary>
/// Checks a saved model before and after ML.NET loads it. Before: every entry is read once within its declared size
/// (<see cref="ModelZipEntry"/>), and every ONNX graph in the zip must load in ONNX Runtime with shapes ML.NET can
/// serve (ML.NET copies a graph to a temporary file and leaves the copy behind when the graph is corrupt, then fails
/// five wrappers deep). After: the graph's inputs must take what the chain's steps give, and its <c>Score</c> width
/// must equal the number of class names the chain maps its arg-max to, or every prediction would be printed against
/// the wrong names.
/// </summary>
internal static class ModelIntegrity
{
    public const string OnnxEntrySuffix = "/OnnxModel"; // the binary stream ML.NET's OnnxTransformer saves: an int32 length, then the graph

    /// <summary>
    /// Loads each ONNX graph of the zip in ONNX Runtime and returns what the chain needs to be checked against: the last
    /// dimension of its <c>Score</c> output, if any, and the shape of each graph input.
    /// </summary>
    /// <exception cref="InvalidDataException">The stream is not a zip, an entry is damaged or a zip bomb, or a graph does not load or declares an impossible shape; the message names <paramref name="source"/>.</exception>
    public static GraphShapes CheckGraphs(Stream zip, string source)
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
            var shapes = new GraphShapes();
            foreach (var entry in archive.Entries)
            {
                ModelZipEntry.CheckDeclaredSize(entry, zip.Length, source);
                if (entry.FullName.EndsWith(OnnxEntrySuffix, StringComparison.Ordinal))
                {
                    shapes.Read(ReadGraph(entry, source), entry.FullName, source);
                }
                else
                {
                    ModelZipEntry.Read(entry, source, static (_, _) => { });
                }
            }

            return shapes;
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

    /// <summary>
    /// Binds the loaded chain to its input schema once, step by step as a prediction engine will, comparing each graph
    /// input's declared shape with the column the steps before it give. A graph whose input was edited (an image of
    /// 56 x 56 where the steps give 28 x 28) loaded, and the service then died at its first engine. Disposes the model
    /// before it throws.
    /// </summary>
    /// <exception cref="InvalidDataException">A graph input takes another number of values than the steps before it give; the message names <paramref name="source"/>.</exception>
    public static void CheckFits(ITransformer model, DataViewSchema inputSchema, GraphShapes shapes, string source)
    {
        string? misfit = null;
        try
        {
            var schema = inputSchema;
            foreach (var step in Flatten(model))
            {
                if (step is OnnxTransformer && (misfit = GraphInputMisfit(schema, shapes, source)) is not null)
                {
                    break;
                }

                schema = step.GetOutputSchema(schema);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // The saved input schema need not hold every column a step reads (an MLImage column is not saved with the
            // model): where a step cannot bind here, the check ends, and the application's own schema binds it later.
        }

        if (misfit is not null)
        {
            (model as IDisposable)?.Dispose();
            throw new InvalidDataException(misfit);
        }
    }

    /// <summary>
    /// What a model saved without its input schema is checked against: when the chain begins with its ONNX graph (a
    /// classifier or featurizer of pixel vectors), each graph input as the float vector it takes, so a vector of another
    /// size is refused naming the column; otherwise (the graph reads what the steps before it make, or takes other
    /// than floats, which ML.NET's step says by refusing the float columns) nothing.
    /// </summary>
    public static DataViewSchema GraphInputSchema(ITransformer model, GraphShapes shapes)
    {
        var none = new DataViewSchema.Builder().ToSchema();
        if (Flatten(model).FirstOrDefault() is not OnnxTransformer graph)
        {
            return none;
        }

        var inputs = new DataViewSchema.Builder();
        foreach (var (name, declared) in shapes.Inputs)
        {
            inputs.AddColumn(name, new VectorDataViewType(NumberDataViewType.Single, (int)GraphShapes.Values(declared)));
        }

        var schema = inputs.ToSchema();
        try
        {
            graph.GetOutputSchema(schema);
            return schema;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return none;
        }
    }

    private static string? GraphInputMisfit(DataViewSchema schema, GraphShapes shapes, string source)
    {
        foreach (var (name, declared) in shapes.Inputs)
        {
            if (schema.GetColumnOrNull(name)?.Type is VectorDataViewType { Size: > 0 } given && GraphShapes.Values(declared) is var takes && given.Size != takes)
            {
                return $"Model '{source}': its ONNX graph takes input '{name}' of shape {GraphShapes.Format(declared)} ({takes} values a row), but the model's steps before it give {given.Size} values a row ({given}); the graph was replaced or edited.";
            }
        }

        return null;
    }

    private static InvalidDataException Mismatch(string source, int classes, int names) =>
        new($"Model '{source}': its ONNX graph scores {classes} classes but the model has {names} class names; the graph was replaced or the zip was assembled from two models. Every prediction would be named wrongly.");

    /// <summary>
    /// The graph of an <c>OnnxModel</c> entry, read once into an array of its length (ML.NET's int32 length prefix is
    /// checked on the way, not copied off afterwards).
    /// </summary>
    public static byte[] ReadGraph(ZipArchiveEntry entry, string source)
    {
        if (entry.Length < 4 || entry.Length - 4 > Array.MaxLength)
        {
            throw new InvalidDataException($"Model '{source}': entry '{entry.FullName}' declares {entry.Length} bytes, which is no ONNX graph ML.NET can read (it reads a graph into one array, of at most {Array.MaxLength} bytes).");
        }

        var prefix = new byte[4];
        var graph = new byte[entry.Length - 4];
        ModelZipEntry.Read(entry, source, (chunk, at) =>
        {
            int head = (int)Math.Clamp(4 - at, 0, chunk.Length);
            chunk[..head].CopyTo(prefix.AsSpan((int)Math.Min(at, 4)));
            if (head < chunk.Length)
            {
                chunk[head..].CopyTo(graph.AsSpan((int)(at + head - 4)));
            }
        });

        int announced = BinaryPrimitives.ReadInt32LittleEndian(prefix);
        if (announced != graph.Length)
        {
            throw new InvalidDataException($"Model '{source}': entry '{entry.FullName}' announces {announced} bytes of ONNX graph but holds {graph.Length}.");
        }

        return graph;
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

    public static IEnumerable<ITransformer> Flatten(ITransformer transformer) =>
        transformer is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [transformer];
}
