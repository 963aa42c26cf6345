using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>
/// The channels-last (NHWC) memory layout of a 4-d tensor, which TorchSharp has no API for: the same
/// [N, C, H, W] shape with strides (H*W*C, 1, W*C, C). libtorch recognises those strides as
/// <c>torch.channels_last</c>: a convolution whose input or weight has them runs oneDNN's NHWC kernels and
/// returns a channels-last output, batch norm, activations and additions keep the layout, so the whole
/// network runs without the reorders between NCHW and oneDNN's blocked layout.
/// </summary>
public static class MemoryLayout
{
    /// <summary>A channels-last copy of a 4-d tensor (the tensor itself when it already is); other tensors as they are.</summary>
    public static Tensor ToChannelsLast(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.ndim != 4 || IsChannelsLast(tensor))
        {
            return tensor.alias();
        }

        using var nhwc = tensor.permute(0, 2, 3, 1).contiguous();
        return nhwc.permute(0, 3, 1, 2);
    }

    /// <summary>Whether a 4-d tensor's strides are the channels-last ones (a tensor with one channel, or 1x1 maps, is both).</summary>
    public static bool IsChannelsLast(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.ndim != 4)
        {
            return false;
        }

        long[] shape = tensor.shape;
        long[] strides = tensor.stride();
        long c = shape[1], h = shape[2], w = shape[3];
        return (c == 1 || strides[1] == 1) && (h == 1 || strides[2] == w * c) && (w == 1 || strides[3] == c) && (shape[0] == 1 || strides[0] == h * w * c);
    }
}
