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

    /// <summary>
    /// Test-time flip: score every image as the mean of the outputs (probabilities or logits) for the image and its
    /// mirror image, one batch of 2N through the network. Doubles the cost of scoring; for classes that look alike
    /// mirrored (clothes, animals, not text). Not allowed with <see cref="OnnxOutput.Embedding"/>.
    /// </summary>
    public bool TestTimeFlip { get; init; }

    /// <summary>
    /// One image per run, as ML.NET's <c>OnnxTransformer</c> scores rows: the input is [1, ...] and the output has no
    /// batch axis ([classes] or [features]), so that ML.NET types the column <c>Vector&lt;Single, K&gt;</c> as its own
    /// trainers do, not <c>Vector&lt;Single, 1, K&gt;</c>. Off (a dynamic batch dimension) for graphs used outside ML.NET.
    /// </summary>
    public bool OneRow { get; init; }

    /// <summary>
    /// Names for the output's slots (the class names), written as ML.NET's own ONNX export writes them (<see cref="OnnxSlotNames"/>),
    /// so that ML.NET's <c>OnnxTransformer</c> gives the output column its <c>SlotNames</c> from the graph alone. Null: none.
    /// </summary>
    public IReadOnlyList<string>? OutputSlotNames { get; init; }

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
        long? batch = o.OneRow ? 1 : null;
        var image = new GraphValue(o.InputName, new long[] { s.Channels, s.Height, s.Width });
        OnnxValueInfo input;
        if (o.FlatInput)
        {
            input = new OnnxValueInfo(o.InputName, OnnxElementType.Float, new long?[] { batch, s.Size });
            string shape = graph.Constant("input_shape", new long[] { 4 }, new long[] { -1, s.Channels, s.Height, s.Width });
            image = graph.Node("Reshape", "input_reshape", new[] { o.InputName, shape }, image.Shape);
        }
        else
        {
            input = new OnnxValueInfo(o.InputName, OnnxElementType.Float, new long?[] { batch, s.Channels, s.Height, s.Width });
        }

        if (o.TestTimeFlip)
        {
            if (o.Output == OnnxOutput.Embedding)
            {
                throw new ArgumentException("TestTimeFlip averages class scores; an embedding export cannot take it.", nameof(options));
            }

            // [image; mirror image] as one batch of 2N: the mirror is a Slice of the width axis with step -1.
            string starts = graph.Constant("flip_starts", new long[] { 1 }, new long[] { -1 });
            string ends = graph.Constant("flip_ends", new long[] { 1 }, new long[] { long.MinValue });
            string axes = graph.Constant("flip_axes", new long[] { 1 }, new long[] { 3 });
            string steps = graph.Constant("flip_steps", new long[] { 1 }, new long[] { -1 });
            var mirror = graph.Node("Slice", "flip", new[] { image.Name, starts, ends, axes, steps }, image.Shape);
            image = graph.Node("Concat", "flip_batch", new[] { image.Name, mirror.Name }, image.Shape, new OnnxAttribute("axis", Int: 0));
        }

        var result = o.Output == OnnxOutput.Embedding ? graph.RunEmbedding(model, image) : graph.Run(model, image);
        string batched = o.OneRow ? o.OutputName + "_batch" : o.OutputName;
        OnnxNode output;
        if (o.TestTimeFlip)
        {
            // Scores of [2N, K] -> [2, N, K] -> the mean over the image and its mirror.
            var scores = o.Output == OnnxOutput.Probabilities ? graph.Node("Softmax", "softmax", new[] { result.Name }, result.Shape, new OnnxAttribute("axis", Int: -1)) : result;
            string pairs = graph.Constant("flip_pairs", new long[] { 3 }, new long[] { 2, -1, result.Shape[0] });
            var paired = graph.Node("Reshape", "flip_pairs", new[] { scores.Name, pairs }, result.Shape);
            output = new OnnxNode("ReduceMean", batched, new[] { paired.Name }, new[] { batched }, new[] { new OnnxAttribute("axes", Ints: new long[] { 0 }), new OnnxAttribute("keepdims", Int: 0) });
        }
        else
        {
            output = o.Output == OnnxOutput.Probabilities
                ? new OnnxNode("Softmax", batched, new[] { result.Name }, new[] { batched }, new[] { new OnnxAttribute("axis", Int: -1) })
                : new OnnxNode("Identity", batched, new[] { result.Name }, new[] { batched }, Array.Empty<OnnxAttribute>());
        }

        var outputs = new List<OnnxNode>(graph.Nodes) { output };
        if (o.OneRow)
        {
            string row = graph.Constant("row_shape", new long[] { 1 }, new long[] { result.Shape[0] });
            outputs.Add(new OnnxNode("Reshape", o.OutputName, new[] { batched, row }, new[] { o.OutputName }, Array.Empty<OnnxAttribute>()));
        }

        var initializers = new List<OnnxTensor>(graph.Initializers);
        var graphOutputs = new List<OnnxValueInfo> { new(o.OutputName, OnnxElementType.Float, o.OneRow ? new long?[] { result.Shape[0] } : new long?[] { null, result.Shape[0] }) };
        if (o.OutputSlotNames is { } names)
        {
            var slots = OnnxSlotNames.For(o.OutputName, names);
            initializers.Add(slots.Input);
            outputs.Add(slots.Node);
            graphOutputs.Add(slots.Output);
        }

        return new OnnxModel
        {
            Name = model.GetName(),
            Nodes = outputs,
            Initializers = initializers,
            Inputs = new[] { input },
            Outputs = graphOutputs,
            Metadata = o.Metadata,
        };
    }

    /// <summary>Exports to ONNX bytes.</summary>
    public static byte[] Export(ImageClassifier model, OnnxExportOptions? options = null) => Build(model, options).ToBytes();
}
