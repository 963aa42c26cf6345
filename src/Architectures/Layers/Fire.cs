using MLNetCnn.Architectures.Graph;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// SqueezeNet's fire module (Iandola et al., 2016, section 3.2): a 1x1 squeeze, then 1x1 and 3x3
/// expands concatenated on channels. Names follow torchvision's <c>Fire</c>.
/// </summary>
public sealed class Fire : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly Conv2d squeeze;
    private readonly ReLU squeeze_activation;
    private readonly Conv2d expand1x1;
    private readonly ReLU expand1x1_activation;
    private readonly Conv2d expand3x3;
    private readonly ReLU expand3x3_activation;

    /// <summary>Creates the module.</summary>
    public Fire(int inplanes, int squeezePlanes, int expand1x1Planes, int expand3x3Planes)
        : base(nameof(Fire))
    {
        squeeze = nn.Conv2d(inplanes, squeezePlanes, 1);
        squeeze_activation = nn.ReLU(inplace: true);
        expand1x1 = nn.Conv2d(squeezePlanes, expand1x1Planes, 1);
        expand1x1_activation = nn.ReLU(inplace: true);
        expand3x3 = nn.Conv2d(squeezePlanes, expand3x3Planes, 3, padding: 1);
        expand3x3_activation = nn.ReLU(inplace: true);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var s = squeeze_activation.forward(squeeze.forward(input));
        using var a = expand1x1_activation.forward(expand1x1.forward(s));
        using var b = expand3x3_activation.forward(expand3x3.forward(s));
        return cat(new[] { a, b }, 1);
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        var s = graph.Apply(squeeze_activation, graph.Apply(squeeze, input));
        var a = graph.Apply(expand1x1_activation, graph.Apply(expand1x1, s));
        var b = graph.Apply(expand3x3_activation, graph.Apply(expand3x3, s));
        return graph.ConcatChannels(a, b);
    }
}
