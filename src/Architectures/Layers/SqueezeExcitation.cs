using MLNetCnn.Architectures.Graph;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// Squeeze-and-excitation (Hu et al., 2018): global average pool, 1x1 reduce, activation, 1x1 expand,
/// sigmoid, and a per-channel rescale of the input. Names follow torchvision's
/// <c>SqueezeExcitation</c> (<c>fc1</c>, <c>fc2</c>).
/// </summary>
public sealed class SqueezeExcitation : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Conv2d fc1;
    private readonly Conv2d fc2;
    private readonly nn.Module<Tensor, Tensor> activation;
    private readonly Sigmoid scale_activation;

    /// <summary>Creates the block on <paramref name="channels"/> channels with a <paramref name="squeezeChannels"/> bottleneck.</summary>
    public SqueezeExcitation(int channels, int squeezeChannels, Activation activation = Activation.ReLU)
        : base(nameof(SqueezeExcitation))
    {
        avgpool = nn.AdaptiveAvgPool2d(1);
        fc1 = nn.Conv2d(channels, squeezeChannels, 1);
        fc2 = nn.Conv2d(squeezeChannels, channels, 1);
        this.activation = Activations.Create(activation) ?? nn.Identity();
        scale_activation = nn.Sigmoid();
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scale = scale_activation.forward(fc2.forward(activation.forward(fc1.forward(avgpool.forward(input)))));
        return input * scale;
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        var scale = graph.Apply(fc1, graph.Apply(avgpool, input));
        scale = graph.Apply(scale_activation, graph.Apply(fc2, graph.Apply(activation, scale)));
        return graph.Mul(input, scale);
    }
}
