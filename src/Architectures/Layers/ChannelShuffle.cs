using MLNetCnn.Architectures.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// Channel shuffle (Zhang et al., ShuffleNet, 2017, section 3.1): view the channels as
/// [groups, channels / groups], transpose, flatten, so the next group convolution sees every group.
/// </summary>
public sealed class ChannelShuffle : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    /// <summary>Creates the layer.</summary>
    public ChannelShuffle(int groups)
        : base(nameof(ChannelShuffle))
    {
        if (groups < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(groups), groups, "Groups must be positive.");
        }

        Groups = groups;
    }

    /// <summary>Number of groups.</summary>
    public int Groups { get; }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        long n = input.shape[0], c = input.shape[1], h = input.shape[2], w = input.shape[3];
        return input.view(n, Groups, c / Groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w);
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input) => graph.ChannelShuffle(input, Groups);
}
