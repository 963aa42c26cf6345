using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// MobileNet v2's inverted residual with linear bottleneck (Sandler et al., 2018, Table 1): 1x1 expand
/// by <c>t</c> (skipped when t = 1), 3x3 depthwise with the stride, 1x1 linear projection (no activation),
/// and an identity shortcut when stride is 1 and the widths match. Names follow torchvision
/// (<c>conv.0.0</c> expand, <c>conv.1.0</c> depthwise, <c>conv.2</c> projection, <c>conv.3</c> its norm).
/// </summary>
public sealed class InvertedResidual : nn.Module<Tensor, Tensor>, IGraphEmitter, IZeroInitLastNorm
{
    private readonly Sequential conv;
    private readonly BatchNorm2d lastNorm;
    private readonly bool useResidual;

    /// <summary>Creates the block.</summary>
    public InvertedResidual(int inChannels, int outChannels, int stride, double expandRatio, Activation activation = Activation.ReLU6)
        : base(nameof(InvertedResidual))
    {
        int hidden = (int)Math.Round(inChannels * expandRatio);
        useResidual = stride == 1 && inChannels == outChannels;
        var layers = new List<nn.Module<Tensor, Tensor>>();
        if (hidden != inChannels)
        {
            layers.Add(ConvNormAct.Create(inChannels, hidden, 1, activation: activation));
        }

        layers.Add(ConvNormAct.Create(hidden, hidden, 3, stride: stride, groups: hidden, activation: activation));
        layers.Add(nn.Conv2d(hidden, outChannels, 1, bias: false));
        lastNorm = new BatchNorm2d(outChannels);
        layers.Add(lastNorm);
        conv = nn.Sequential(layers.Select((m, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), m)));
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input) => useResidual ? conv.forward(input).add_(input, Scalars.One) : conv.forward(input);

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        var x = graph.Apply(conv, input);
        return useResidual ? graph.Add(x, input) : x;
    }

    /// <inheritdoc/>
    public void ZeroInitLastNorm()
    {
        if (useResidual)
        {
            Init.ZeroGamma(lastNorm);
        }
    }
}

/// <summary>
/// EfficientNet's MBConv (Tan and Le, 2019; MnasNet): 1x1 expand (skipped when the ratio is 1), kxk
/// depthwise with the stride, squeeze-and-excitation on the expanded width (squeeze = block input / 4),
/// 1x1 linear projection, stochastic depth on the residual branch. Names follow torchvision
/// (<c>block.0.0</c>, <c>block.1.0</c>, <c>block.2.fc1</c>, <c>block.3.0</c>).
/// </summary>
public sealed class MBConv : nn.Module<Tensor, Tensor>, IGraphEmitter, IZeroInitLastNorm
{
    private readonly Sequential block;
    private readonly StochasticDepth stochastic_depth;
    private readonly BatchNorm2d lastNorm;
    private readonly bool useResidual;

    /// <summary>Creates the block.</summary>
    public MBConv(int inChannels, int outChannels, int kernel, int stride, double expandRatio, double dropPath)
        : base(nameof(MBConv))
    {
        int expanded = Channels.MakeDivisible(inChannels * expandRatio);
        useResidual = stride == 1 && inChannels == outChannels;
        var layers = new List<nn.Module<Tensor, Tensor>>();
        if (expanded != inChannels)
        {
            layers.Add(ConvNormAct.Create(inChannels, expanded, 1, activation: Activation.SiLU));
        }

        layers.Add(ConvNormAct.Create(expanded, expanded, kernel, stride: stride, groups: expanded, activation: Activation.SiLU));
        layers.Add(new SqueezeExcitation(expanded, Math.Max(1, inChannels / 4), Activation.SiLU));
        var project = ConvNormAct.Create(expanded, outChannels, 1, activation: Activation.None);
        lastNorm = (BatchNorm2d)project.children().Last();
        layers.Add(project);
        block = nn.Sequential(layers.Select((m, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), m)));
        stochastic_depth = new StochasticDepth(dropPath);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        var x = block.forward(input);
        if (!useResidual)
        {
            return x;
        }

        using var dropped = stochastic_depth.forward(x);
        x.Dispose();
        return dropped.add(input, Scalars.One);
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        var x = graph.Apply(block, input);
        return useResidual ? graph.Add(graph.Apply(stochastic_depth, x), input) : x;
    }

    /// <inheritdoc/>
    public void ZeroInitLastNorm()
    {
        if (useResidual)
        {
            Init.ZeroGamma(lastNorm);
        }
    }
}
