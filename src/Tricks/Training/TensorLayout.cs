using MLNetCnn.Tricks.Precision;
using TorchSharp;

namespace MLNetCnn.Tricks.Training;

/// <summary>How 4-d activations and convolution weights are laid out in memory while training.</summary>
public enum TensorLayout
{
    /// <summary>Channels-last on the CPU (and on CUDA in 16-bit precision), channels-first otherwise; see <see cref="TensorLayouts.Resolve"/>.</summary>
    Auto,

    /// <summary>NCHW, libtorch's default: oneDNN reorders every activation into its blocked layout and back around each convolution.</summary>
    ChannelsFirst,

    /// <summary>
    /// NHWC strides under the same [N, C, H, W] shapes (<c>torch.channels_last</c>): oneDNN's NHWC kernels run
    /// without reorders, and batch norm, activations and additions keep the layout. Measured on a 2-core
    /// AVX2 host (docs/benchmarks.md): MobileNet v2 at 224 trains about 1.4x faster, ResNet-18 at 224 about 1.1x.
    /// </summary>
    ChannelsLast,
}

/// <summary>Resolves <see cref="TensorLayout.Auto"/>.</summary>
public static class TensorLayouts
{
    /// <summary>The layout training uses for <paramref name="requested"/> on <paramref name="device"/> at <paramref name="precision"/> (never Auto).</summary>
    public static TensorLayout Resolve(TensorLayout requested, DeviceType device, TrainingPrecision precision) => requested switch
    {
        TensorLayout.Auto when device == DeviceType.CUDA && precision == TrainingPrecision.Float32 => TensorLayout.ChannelsFirst, // cuDNN's float32 kernels favour NCHW
        TensorLayout.Auto => TensorLayout.ChannelsLast,
        _ => requested,
    };
}
