using MLNetCnn.Architectures.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// Drop path / stochastic depth (Huang et al., 2016), torchvision's <c>StochasticDepth(p, "row")</c>:
/// in training each example's residual branch is dropped with probability <c>p</c> and the kept ones
/// are scaled by 1 / (1 - p); in eval it is the identity, so it never appears in the exported graph.
/// </summary>
public sealed class StochasticDepth : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    /// <summary>Creates the layer.</summary>
    public StochasticDepth(double probability)
        : base(nameof(StochasticDepth))
    {
        if (probability is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "Drop probability must be in [0, 1).");
        }

        Probability = probability;
    }

    /// <summary>Probability of dropping the branch for one example.</summary>
    public double Probability { get; }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        if (!training || Probability == 0)
        {
            return input.alias();
        }

        double keep = 1 - Probability;
        var shape = new long[input.dim()];
        Array.Fill(shape, 1L);
        shape[0] = input.shape[0];
        using var scale = keep.ToScalar(); // held until the call returns: see Runtime.Scalars
        using var mask = empty(shape, input.dtype, input.device).bernoulli_(keep).div_(scale);
        return input * mask;
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input) => input;
}
