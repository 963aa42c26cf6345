using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// Convolution, batch norm, activation: torchvision's <c>Conv2dNormActivation</c>. It is a
/// <see cref="Sequential"/> with children <c>0</c> (conv, no bias), <c>1</c> (batch norm) and <c>2</c>
/// (activation, absent for <see cref="Activation.None"/>), so state_dict keys read
/// <c>features.0.0.weight</c>, <c>features.0.1.running_mean</c> as in torchvision.
/// </summary>
public static class ConvNormAct
{
    /// <summary>Creates the block; padding defaults to "same" for odd kernels ((k - 1) / 2).</summary>
    public static Sequential Create(int inChannels, int outChannels, int kernel, int stride = 1, int groups = 1, Activation activation = Activation.ReLU, int? padding = null, double eps = 1e-5)
    {
        var modules = new List<(string, nn.Module<Tensor, Tensor>)>
        {
            ("0", nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding ?? ((kernel - 1) / 2), groups: groups, bias: false)),
            ("1", new BatchNorm2d(outChannels, eps: eps)),
        };
        if (Activations.Create(activation) is { } act)
        {
            modules.Add(("2", act));
        }

        return nn.Sequential(modules);
    }
}
