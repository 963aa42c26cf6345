using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>
/// Full pre-activation basic block (He et al., 2016, Figure 4e): BN-ReLU-3x3, BN-ReLU-3x3, plus the
/// shortcut. A projection shortcut reads the pre-activated input, as in timm's <c>PreActBasic</c>.
/// </summary>
public sealed class PreActBasicBlock : nn.Module<Tensor, Tensor>, IGraphEmitter, IZeroInitLastNorm
{
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn2;
    private readonly Conv2d conv2;
    private readonly ReLU relu;
    private readonly Sequential? downsample;

    /// <summary>Creates the block.</summary>
    public PreActBasicBlock(int inplanes, int planes, int stride, Sequential? downsample)
        : base(nameof(PreActBasicBlock))
    {
        bn1 = new BatchNorm2d(inplanes);
        conv1 = nn.Conv2d(inplanes, planes, 3, stride: stride, padding: 1, bias: false);
        bn2 = new BatchNorm2d(planes);
        conv2 = nn.Conv2d(planes, planes, 3, stride: 1, padding: 1, bias: false);
        relu = nn.ReLU();
        this.downsample = downsample;
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var preact = relu.forward(bn1.forward(input));
        var shortcut = downsample is null ? input : StridedPointwise.Forward(downsample, preact);
        var x = conv2.forward(relu.forward(bn2.forward(conv1.forward(preact))));
        return x.add_(shortcut, Scalars.One).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        var preact = graph.Apply(relu, graph.Apply(bn1, input));
        var shortcut = downsample is null ? input : graph.Apply(downsample, preact);
        var x = graph.Apply(conv2, graph.Apply(relu, graph.Apply(bn2, graph.Apply(conv1, preact))));
        return graph.Add(x, shortcut);
    }

    /// <summary>The block ends in a convolution, not a norm: its weights start at zero (timm's <c>zero_init_last</c>), so the block starts as its shortcut.</summary>
    public void ZeroInitLastNorm() => Init.ZeroWeight(conv2);
}

/// <summary>
/// Full pre-activation bottleneck (He et al., 2016, Figure 4e): BN-ReLU-1x1, BN-ReLU-3x3 (with the stride),
/// BN-ReLU-1x1 expanding by 4, plus the shortcut; timm's <c>PreActBottleneck</c>.
/// </summary>
public sealed class PreActBottleneckBlock : nn.Module<Tensor, Tensor>, IGraphEmitter, IZeroInitLastNorm
{
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn2;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn3;
    private readonly Conv2d conv3;
    private readonly ReLU relu;
    private readonly Sequential? downsample;

    /// <summary>Creates the block.</summary>
    public PreActBottleneckBlock(int inplanes, int planes, int stride, Sequential? downsample)
        : base(nameof(PreActBottleneckBlock))
    {
        bn1 = new BatchNorm2d(inplanes);
        conv1 = nn.Conv2d(inplanes, planes, 1, bias: false);
        bn2 = new BatchNorm2d(planes);
        conv2 = nn.Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false);
        bn3 = new BatchNorm2d(planes);
        conv3 = nn.Conv2d(planes, planes * 4, 1, bias: false);
        relu = nn.ReLU();
        this.downsample = downsample;
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var preact = relu.forward(bn1.forward(input));
        var shortcut = downsample is null ? input : StridedPointwise.Forward(downsample, preact);
        var x = conv1.forward(preact);
        x = conv2.forward(relu.forward(bn2.forward(x)));
        x = conv3.forward(relu.forward(bn3.forward(x)));
        return x.add_(shortcut, Scalars.One).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        var preact = graph.Apply(relu, graph.Apply(bn1, input));
        var shortcut = downsample is null ? input : graph.Apply(downsample, preact);
        var x = graph.Apply(conv1, preact);
        x = graph.Apply(conv2, graph.Apply(relu, graph.Apply(bn2, x)));
        x = graph.Apply(conv3, graph.Apply(relu, graph.Apply(bn3, x)));
        return graph.Add(x, shortcut);
    }

    /// <summary>The block ends in a convolution, not a norm: its weights start at zero (timm's <c>zero_init_last</c>), so the block starts as its shortcut.</summary>
    public void ZeroInitLastNorm() => Init.ZeroWeight(conv3);
}
