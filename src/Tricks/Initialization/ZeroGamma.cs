using MLNetCnn.Architectures.Layers;
using TorchSharp;

namespace MLNetCnn.Tricks.Initialization;

/// <summary>
/// Zero gamma (Bag of Tricks section 3.1): the last batch norm of every residual block starts at
/// gamma = 0, so each block starts as the identity (its shortcut) and the network as a shallower one.
/// The blocks declare the capability through <see cref="IZeroInitLastNorm"/>: ResNet's basic and
/// bottleneck blocks, their pre-activation units (whose last convolution starts at 0), MobileNet v2 / EfficientNet
/// inverted residuals, ShuffleNet v1 units and Xception blocks.
/// </summary>
public static class ZeroGamma
{
    /// <summary>Zeroes the last norm of every residual block in <paramref name="model"/>; returns how many blocks it changed.</summary>
    public static int Apply(torch.nn.Module model)
    {
        int count = 0;
        foreach (var module in model.modules().OfType<IZeroInitLastNorm>())
        {
            module.ZeroInitLastNorm();
            count++;
        }

        return count;
    }
}
