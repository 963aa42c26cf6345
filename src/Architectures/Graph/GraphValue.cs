namespace MLNetCnn.Architectures.Graph;

/// <summary>A value flowing through the graph: its ONNX name and its shape without the batch dimension.</summary>
/// <param name="Name">Unique value name in the ONNX graph.</param>
/// <param name="Shape">Per-example shape, e.g. [C, H, W] or [Features].</param>
public sealed record GraphValue(string Name, IReadOnlyList<long> Shape)
{
    /// <summary>The shape as text, e.g. <c>64x56x56</c>.</summary>
    public string ShapeText => string.Join('x', Shape);
}

/// <summary>
/// A module that describes its own dataflow to a <see cref="GraphBuilder"/>. Composite blocks
/// (residual blocks, whole networks) implement it next to <c>forward</c>, so the ONNX graph and the
/// cost model are read from the same block definition as the training forward pass.
/// Leaves (convolution, batch norm, pooling, linear, activations) are known to the builder.
/// </summary>
public interface IGraphEmitter
{
    /// <summary>Emits this module's computation on <paramref name="input"/> and returns its output.</summary>
    GraphValue Emit(GraphBuilder graph, GraphValue input);
}

/// <summary>One row of the cost model: a leaf layer, its output shape, its parameters and multiply-accumulates.</summary>
/// <param name="Name">Module path, following the state_dict keys (e.g. <c>layer2.0.conv1</c>).</param>
/// <param name="Kind">Layer type (Conv2d, BatchNorm2d, Linear, ...).</param>
/// <param name="OutputShape">Per-example output shape.</param>
/// <param name="Parameters">Trainable parameters owned by this layer.</param>
/// <param name="Macs">Multiply-accumulates for one example (conv: output elements x in/groups x kh x kw; linear: out x in).</param>
public sealed record LayerCost(string Name, string Kind, IReadOnlyList<long> OutputShape, long Parameters, long Macs);
