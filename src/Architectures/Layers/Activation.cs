using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>The activations the families use after a normalization.</summary>
public enum Activation
{
    /// <summary>No activation (linear bottlenecks, projections).</summary>
    None,

    /// <summary>max(0, x).</summary>
    ReLU,

    /// <summary>min(max(0, x), 6) (MobileNet v1/v2).</summary>
    ReLU6,

    /// <summary>x * sigmoid(x), also called Swish (EfficientNet).</summary>
    SiLU,
}

/// <summary>Creates activation modules the graph builder knows how to export.</summary>
public static class Activations
{
    /// <summary>A new module for <paramref name="activation"/>; null for <see cref="Activation.None"/>.</summary>
    public static nn.Module<Tensor, Tensor>? Create(Activation activation) => activation switch
    {
        Activation.None => null,
        Activation.ReLU => nn.ReLU(inplace: true),
        Activation.ReLU6 => nn.ReLU6(inplace: true),
        Activation.SiLU => nn.SiLU(inplace: true),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation."),
    };
}
