using MLNetCnn.Architectures.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// Per-channel <c>(x - mean) / std</c> in the pixel units the data arrives in (for example 0..255),
/// so a served model takes raw pixels and normalization cannot be forgotten or applied twice.
/// </summary>
public sealed class InputNormalization : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly Tensor mean;
    private readonly Tensor std;

    /// <summary>Creates the layer from per-channel statistics.</summary>
    public InputNormalization(IReadOnlyList<float> mean, IReadOnlyList<float> std)
        : base(nameof(InputNormalization))
    {
        if (mean.Count == 0 || mean.Count != std.Count)
        {
            throw new ArgumentException($"Normalization needs one mean and one std per channel; found {mean.Count} means and {std.Count} stds.");
        }

        if (std.Any(s => !(s > 0) || !float.IsFinite(s)) || mean.Any(m => !float.IsFinite(m)))
        {
            throw new ArgumentException($"Normalization std must be positive and finite, mean finite; found mean [{string.Join(", ", mean)}], std [{string.Join(", ", std)}].");
        }

        float[] m = mean.ToArray();
        float[] s = std.ToArray();
        Mean = m;
        Std = s;
        this.mean = tensor(m).reshape(1, m.Length, 1, 1);
        this.std = tensor(s).reshape(1, s.Length, 1, 1);
        register_buffer(nameof(this.mean), this.mean, persistent: false);
        register_buffer(nameof(this.std), this.std, persistent: false);
    }

    /// <summary>Per-channel mean, in input units.</summary>
    public IReadOnlyList<float> Mean { get; }

    /// <summary>Per-channel standard deviation, in input units.</summary>
    public IReadOnlyList<float> Std { get; }

    /// <summary>Normalizes in float32 and returns the input's dtype (so a bfloat16 batch stays bfloat16 for the layers after it).</summary>
    public override Tensor forward(Tensor input)
    {
        if (input.dtype == mean.dtype)
        {
            return (input - mean).div_(std);
        }

        using var scope = NewDisposeScope();
        return (input.to(mean.dtype) - mean).div_(std).to(input.dtype).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        long[] dims = { 1, Mean.Count, 1, 1 };
        var centred = graph.Node("Sub", "sub", new[] { input.Name, graph.Constant("mean", dims, Mean.ToArray()) }, input.Shape);
        return graph.Node("Div", "div", new[] { centred.Name, graph.Constant("std", dims, Std.ToArray()) }, input.Shape);
    }
}
