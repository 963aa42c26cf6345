using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Architectures.Onnx;

/// <summary>How the exported graph looks from outside.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>Name of the graph input.</summary>
    public string InputName { get; init; } = "Features";

    /// <summary>Name of the graph output.</summary>
    public string OutputName { get; init; } = "Score";

    /// <summary>Input is a flat [N, C*H*W] vector (ML.NET vector columns); otherwise [N, C, H, W].</summary>
    public bool FlatInput { get; init; } = true;

    /// <summary>What the graph outputs: class probabilities (the default), logits, or the embedding.</summary>
    public OnnxOutput Output { get; init; } = OnnxOutput.Probabilities;

    /// <summary>Metadata stored in the model (class names, normalization, ...).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
}

/// <summary>What an exported graph computes.</summary>
public enum OnnxOutput
{
    /// <summary>Softmax probabilities [N, classes].</summary>
    Probabilities,

    /// <summary>Raw logits [N, classes].</summary>
    Logits,

    /// <summary>
    /// The embedding [N, features]: the global average of the last feature map (<see cref="ImageClassifier.ForwardEmbedding"/>),
    /// the same block definitions without the head, for a featurizer.
    /// </summary>
    Embedding,
}

/// <summary>Exports a model to ONNX from its own block definitions (see <see cref="IGraphEmitter"/>), with a dynamic batch dimension.</summary>
public static class OnnxExporter
{
    /// <summary>
    /// Builds the ONNX model for <paramref name="model"/> (eval semantics: batch norm uses running statistics,
    /// dropout is off, auxiliary heads are left out); with <see cref="OnnxOutput.Embedding"/>, the features graph only.
    /// </summary>
    public static OnnxModel Build(ImageClassifier model, OnnxExportOptions? options = null)
    {
        var o = options ?? new OnnxExportOptions();
        var s = model.InputShape;
        var graph = new GraphBuilder(withWeights: true);
        var image = new GraphValue(o.InputName, new long[] { s.Channels, s.Height, s.Width });
        OnnxValueInfo input;
        if (o.FlatInput)
        {
            input = new OnnxValueInfo(o.InputName, OnnxElementType.Float, new long?[] { null, s.Size });
            string shape = graph.Constant("input_shape", new long[] { 4 }, new long[] { -1, s.Channels, s.Height, s.Width });
            image = graph.Node("Reshape", "input_reshape", new[] { o.InputName, shape }, image.Shape);
        }
        else
        {
            input = new OnnxValueInfo(o.InputName, OnnxElementType.Float, new long?[] { null, s.Channels, s.Height, s.Width });
        }

        var result = o.Output == OnnxOutput.Embedding ? graph.RunEmbedding(model, image) : graph.Run(model, image);
        var outputs = new List<OnnxNode>(graph.Nodes)
        {
            o.Output == OnnxOutput.Probabilities
                ? new OnnxNode("Softmax", o.OutputName, new[] { result.Name }, new[] { o.OutputName }, new[] { new OnnxAttribute("axis", Int: -1) })
                : new OnnxNode("Identity", o.OutputName, new[] { result.Name }, new[] { o.OutputName }, Array.Empty<OnnxAttribute>()),
        };

        return new OnnxModel
        {
            Name = model.GetName(),
            Nodes = outputs,
            Initializers = graph.Initializers,
            Inputs = new[] { input },
            Outputs = new[] { new OnnxValueInfo(o.OutputName, OnnxElementType.Float, new long?[] { null, result.Shape[0] }) },
            Metadata = o.Metadata,
        };
    }

    /// <summary>Exports to ONNX bytes.</summary>
    public static byte[] Export(ImageClassifier model, OnnxExportOptions? options = null) => Build(model, options).ToBytes();
}
