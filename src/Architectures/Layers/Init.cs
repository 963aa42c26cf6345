using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>Weight initialization shared by the families (torchvision's defaults).</summary>
public static class Init
{
    /// <summary>Kaiming-normal (fan-out, ReLU) for convolutions, gamma 1 and beta 0 for batch norm; linear layers keep PyTorch's default.</summary>
    public static void KaimingConvUnitNorm(nn.Module model)
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in model.named_modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    nn.init.kaiming_normal_(conv.weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
                    if (conv.bias is not null)
                    {
                        nn.init.zeros_(conv.bias);
                    }

                    break;
                case TorchSharp.Modules.BatchNorm bn:
                    nn.init.ones_(bn.weight);
                    nn.init.zeros_(bn.bias);
                    break;
            }
        }
    }

    /// <summary>Normal(0, <paramref name="std"/>) weights and zero bias for every linear layer (torchvision's VGG and MobileNet heads).</summary>
    public static void NormalLinear(nn.Module model, double std)
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in model.named_modules())
        {
            if (module is Linear linear)
            {
                nn.init.normal_(linear.weight, 0, std);
                if (linear.bias is not null)
                {
                    nn.init.zeros_(linear.bias);
                }
            }
        }
    }

    /// <summary>Sets a batch norm's gamma to zero.</summary>
    public static void ZeroGamma(BatchNorm2d norm)
    {
        using var noGrad = no_grad();
        nn.init.zeros_(norm.weight);
    }

    /// <summary>Sets a convolution's weights to zero (the last layer of a block that ends in a convolution).</summary>
    public static void ZeroWeight(Conv2d conv)
    {
        using var noGrad = no_grad();
        nn.init.zeros_(conv.weight);
    }
}
