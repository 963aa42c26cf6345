using System.Globalization;
using Microsoft.ML.OnnxRuntime;

namespace MLNetCnn.Serving;

/// <summary>
/// What the ONNX graphs of a model zip declare, checked before ML.NET sees them: each graph must load in ONNX Runtime,
/// and each input and output must have a shape ML.NET can serve. ML.NET reads the shapes from the graph's protobuf
/// itself (ONNX Runtime reports a negative dimension as -1, as if it varied), so they are read here the same way: the
/// first dimension may vary (the batch axis of the graphs earlier versions saved; ML.NET takes it as 1), every other
/// must be a positive number. ML.NET turns any other into 0, which made an input of "0 values" that failed every
/// prediction, or fails to load after copying the graph to a temporary file.
/// </summary>
internal sealed class GraphShapes
{
    private readonly Dictionary<string, long[]> _inputs = [];
    private readonly Dictionary<string, string?> _pixelRanges = [];

    /// <summary>The last dimension of the <c>Score</c> output, if a graph has one.</summary>
    public int? ScoreWidth { get; private set; }

    /// <summary>The declared shape of each graph input, by name (ML.NET feeds an input from the column of that name); -1 where the first dimension varies.</summary>
    public IReadOnlyDictionary<string, long[]> Inputs => _inputs;

    /// <summary>For each graph input, the training pixel range its graph records (<see cref="PixelUnits.MetadataKey"/>, JSON), null where none is.</summary>
    public IReadOnlyDictionary<string, string?> PixelRanges => _pixelRanges;

    /// <summary>Checks <paramref name="graph"/>'s declared shapes, loads it in ONNX Runtime, and records its inputs and <c>Score</c> width.</summary>
    /// <exception cref="InvalidDataException">An input or output declares a shape ML.NET cannot serve, or the graph does not load.</exception>
    /// <remarks>
    /// The declared shapes are checked before ONNX Runtime loads the graph, so the error names the shape wherever ONNX
    /// Runtime would also refuse it: a graph whose input declares a dimension of 0 loaded in ONNX Runtime on the Zen 3
    /// build hosts and was refused on an AVX-512 Zen 5 host (a Reshape's shape inference), whose error named no shape.
    /// </remarks>
    public void Read(byte[] graph, string entry, string source)
    {
        List<(string Kind, string Name, long[] Shape)>? declared = null;
        try
        {
            declared = OnnxShapes.Read(graph).ToList();
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IndexOutOfRangeException or OverflowException)
        {
            // A protobuf this reader cannot walk: ONNX Runtime's load below says what is wrong with it.
        }

        foreach (var (kind, name, shape) in declared ?? [])
        {
            Check(shape, kind, name, entry, source);
        }

        try
        {
            using var session = new InferenceSession(graph);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"Model '{source}': its ONNX graph ('{entry}') does not load in ONNX Runtime, so the zip is damaged: {e.Message}", e);
        }

        string? pixelRange = OnnxShapes.Metadata(graph).GetValueOrDefault(PixelUnits.MetadataKey);
        foreach (var (kind, name, shape) in declared ?? OnnxShapes.Read(graph))
        {
            if (kind == OnnxShapes.Input)
            {
                _inputs[name] = shape;
                _pixelRanges[name] = pixelRange;
            }
            else if (name == ServingPipeline.ScoreColumnName && shape is [.., > 0 and var last])
            {
                ScoreWidth = (int)last;
            }
        }
    }

    /// <summary>The number of values one row of a declared shape holds, a first dimension that varies taken as 1 (as ML.NET takes it).</summary>
    public static long Values(long[] dimensions) => dimensions.Aggregate(1L, (product, d) => product * Math.Max(d, 1));

    /// <summary>A shape as the error messages write it.</summary>
    public static string Format(long[] dimensions) => $"[{string.Join(", ", dimensions.Select(d => d.ToString(CultureInfo.InvariantCulture)))}]";

    private static void Check(long[] shape, string kind, string name, string entry, string source)
    {
        long count = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] <= 0 && (i > 0 || shape[i] != OnnxShapes.Varies))
            {
                throw Impossible(source, entry, kind, name, shape, shape[i] == OnnxShapes.Varies ? $"dimension {i} varies, and ML.NET serves only a first dimension that varies" : $"dimension {i} is {shape[i]}, neither positive nor one that varies");
            }

            count *= Math.Max(shape[i], 1);
            if (count > Array.MaxLength)
            {
                throw Impossible(source, entry, kind, name, shape, string.Create(CultureInfo.InvariantCulture, $"a row would hold more values than one array can ({Array.MaxLength})"));
            }
        }
    }

    private static InvalidDataException Impossible(string source, string entry, string kind, string name, long[] shape, string why) =>
        new($"Model '{source}': its ONNX graph ('{entry}') declares {kind} '{name}' of shape {Format(shape)}: {why}, so the graph was edited or damaged.");
}
