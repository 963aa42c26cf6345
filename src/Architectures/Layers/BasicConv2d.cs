using MLNetCnn.Architectures.Graph;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// The Inception families' conv unit: convolution without bias, batch norm (eps 0.001), ReLU; named
/// <c>conv</c> and <c>bn</c> as torchvision's <c>BasicConv2d</c> in GoogLeNet and Inception v3.
/// Kernels and paddings may be rectangular (Inception v3's 1x7 and 7x1 factorization).
/// </summary>
public sealed class BasicConv2d : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly Conv2d conv;
    private readonly BatchNorm2d bn;
    private readonly ReLU relu;

    /// <summary>Creates a square-kernel unit.</summary>
    public BasicConv2d(int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0)
        : this(inChannels, outChannels, (kernel, kernel), stride, (padding, padding))
    {
    }

    /// <summary>Creates a unit with a rectangular kernel (height, width) and padding (height, width).</summary>
    public BasicConv2d(int inChannels, int outChannels, (int Height, int Width) kernel, int stride, (int Height, int Width) padding)
        : base(nameof(BasicConv2d))
    {
        conv = nn.Conv2d(inChannels, outChannels, (kernel.Height, kernel.Width), stride: (stride, stride), padding: (padding.Height, padding.Width), bias: false);
        bn = new BatchNorm2d(outChannels, eps: 0.001);
        relu = nn.ReLU(inplace: true);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input) => relu.forward(bn.forward(conv.forward(input)));

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input) => graph.Apply(relu, graph.Apply(bn, graph.Apply(conv, input)));
}
