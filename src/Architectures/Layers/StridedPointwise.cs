using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// Runs a strided 1x1 convolution (a projection shortcut) as a stride-1 1x1 convolution on the
/// subsampled input <c>x[:, :, ::s, ::s]</c>, which is the same function. Reason: libtorch 2.10's
/// oneDNN divides by zero (SIGFPE, a process crash) while choosing blocking for the backward-data
/// pass of strided 1x1 convolutions with AVX2 or newer kernels
/// (<c>brgemm_convolution_bwd_strided_t</c>, <c>brg_blocking_t::est_eff_1x1</c>), for example the
/// 1024-to-2048 shortcut of ResNet-50 at 224. The module keeps its stride, so export, cost and
/// state_dict keys are unchanged.
/// </summary>
public static class StridedPointwise
{
    /// <summary>Applies <paramref name="conv"/> to <paramref name="input"/>, avoiding the strided 1x1 backward kernel.</summary>
    public static Tensor Forward(Conv2d conv, Tensor input)
    {
        long[] k = conv.kernel_size;
        long[] s = conv.stride;
        long[]? p = conv.padding;
        bool pointwise = k.All(v => v == 1) && (p is null || p.All(v => v == 0)) && conv.groups == 1 && conv.dilation.All(v => v == 1);
        if (!pointwise || s.All(v => v == 1))
        {
            return conv.forward(input);
        }

        using var sampled = input[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(null, null, s[0]), TensorIndex.Slice(null, null, s[1])];
        return nn.functional.conv2d(sampled, conv.weight!, conv.bias);
    }

    /// <summary>Runs a shortcut <see cref="Sequential"/> (conv, norm, ...) with its convolutions through <see cref="Forward(Conv2d, Tensor)"/>.</summary>
    public static Tensor Forward(Sequential shortcut, Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input;
        foreach (var (_, module) in shortcut.named_children())
        {
            x = module is Conv2d conv ? Forward(conv, x) : ((nn.Module<Tensor, Tensor>)module).forward(x);
        }

        return x.MoveToOuterDisposeScope();
    }
}
