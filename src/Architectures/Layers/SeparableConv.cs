using MLNetCnn.Architectures.Graph;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// Depthwise separable convolution (Howard et al., MobileNets, 2017, section 3.1; Chollet, Xception, 2017):
/// a per-channel kxk convolution followed by a 1x1 pointwise convolution.
/// </summary>
public static class DepthwiseSeparable
{
    /// <summary>
    /// MobileNet v1's layer (paper Figure 3): 3x3 depthwise conv, BN, activation, then 1x1 conv, BN,
    /// activation; a <see cref="Sequential"/> of two <see cref="ConvNormAct"/> blocks (<c>0</c> depthwise, <c>1</c> pointwise).
    /// </summary>
    public static Sequential WithNorms(int inChannels, int outChannels, int stride, Activation activation = Activation.ReLU) =>
        nn.Sequential(
            ("0", ConvNormAct.Create(inChannels, inChannels, 3, stride: stride, groups: inChannels, activation: activation)),
            ("1", ConvNormAct.Create(inChannels, outChannels, 1, activation: activation)));
}

/// <summary>
/// Xception's separable convolution (Chollet, 2017, section 3): depthwise then pointwise with nothing in
/// between, as in Keras and timm (<c>conv1</c> depthwise, <c>pointwise</c>).
/// </summary>
public sealed class SeparableConv2d : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly Conv2d conv1;
    private readonly Conv2d pointwise;

    /// <summary>Creates the layer ("same" padding).</summary>
    public SeparableConv2d(int inChannels, int outChannels, int kernel = 3, int stride = 1)
        : base(nameof(SeparableConv2d))
    {
        conv1 = nn.Conv2d(inChannels, inChannels, kernel, stride: stride, padding: (kernel - 1) / 2, groups: inChannels, bias: false);
        pointwise = nn.Conv2d(inChannels, outChannels, 1, bias: false);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var x = conv1.forward(input);
        return pointwise.forward(x);
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input) => graph.Apply(pointwise, graph.Apply(conv1, input));
}
