using MLNetCnn.Architectures.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// Local response normalization across channels (Krizhevsky et al., 2012, section 3.3):
/// <c>x / (k + alpha / size * sum of squares over size neighbouring channels)^beta</c>.
/// PyTorch's <c>LocalResponseNorm</c> and ONNX's <c>LRN</c> define it the same way.
/// </summary>
public sealed class LocalResponseNorm : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly nn.Module<Tensor, Tensor> lrn;

    /// <summary>Creates the layer (defaults: AlexNet's size 5, alpha 1e-4, beta 0.75, k 2).</summary>
    public LocalResponseNorm(int size = 5, double alpha = 1e-4, double beta = 0.75, double k = 2)
        : base(nameof(LocalResponseNorm))
    {
        Size = size;
        Alpha = alpha;
        Beta = beta;
        K = k;
        lrn = nn.LocalResponseNorm(size, alpha, beta, k);
        RegisterComponents();
    }

    /// <summary>Number of neighbouring channels summed.</summary>
    public int Size { get; }

    /// <summary>Scale of the sum of squares.</summary>
    public double Alpha { get; }

    /// <summary>Exponent.</summary>
    public double Beta { get; }

    /// <summary>Additive constant.</summary>
    public double K { get; }

    /// <summary>
    /// Normalizes <paramref name="input"/>. A 16-bit input (bfloat16 or float16 training) is normalized in float32 and
    /// given back in its own type: libtorch computes the layer with a 3-D average pool, which has no bfloat16 kernel
    /// on the CPU ("avg_pool3d_out_frame not implemented for 'BFloat16'" stopped vgg11_lrn's bfloat16 training).
    /// </summary>
    public override Tensor forward(Tensor input)
    {
        if (input.dtype is not (ScalarType.BFloat16 or ScalarType.Float16))
        {
            return lrn.forward(input);
        }

        using var scope = NewDisposeScope();
        return lrn.forward(input.to(ScalarType.Float32)).to(input.dtype).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input) =>
        graph.Node("LRN", "lrn", new[] { input.Name }, input.Shape,
            new("size", Int: Size), new("alpha", Float: (float)Alpha), new("beta", Float: (float)Beta), new("bias", Float: (float)K));
}
