using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Architectures.Families;

/// <summary>ResNet registry rows: depth (paper Table 1), the Bag of Tricks ResNet-D and pre-activation, as <see cref="ResNetConfig"/> rows.</summary>
public static class ResNetVariants
{
    /// <summary>Registry rows for the ResNet family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return new("resnet18", ResNetConfig.ResNet18, new(11_689_512, 1.814, 0, "TV"));
            yield return new("resnet34", ResNetConfig.ResNet34, new(21_797_672, 3.664, 0, "TV"));
            yield return new("resnet50", ResNetConfig.ResNet50, new(25_557_032, 4.089, 0, "TV"));
            yield return new("resnet101", ResNetConfig.ResNet101, new(44_549_160, 7.801, 0, "TV"));
            yield return new("resnet152", ResNetConfig.ResNet152, new(60_192_808, 11.514, 0, "TV"));
            yield return new("resnet18d", D(ResNetConfig.ResNet18), new(11_708_744, 2.054, 0, "COMP on TIMM"));
            yield return new("resnet50d", D(ResNetConfig.ResNet50), new(25_576_264, 4.329, 0, "COMP on TIMM"));
            yield return new("resnet101d", D(ResNetConfig.ResNet101), new(44_568_392, 8.041, 0, "COMP on TIMM"));
            yield return new("resnetv2_50", PreActivation(ResNetConfig.ResNet50), new(25_549_352, 4.089, 0, "COMP on TIMM"));
            yield return new("resnetv2_101", PreActivation(ResNetConfig.ResNet101), new(44_541_480, 7.801, 0, "COMP on TIMM"));
        }
    }

    private static ResNetConfig D(ResNetConfig config) => config with { Variant = ResNetVariant.D };

    /// <summary>Full pre-activation units (He et al., 2016; timm's resnetv2 layout).</summary>
    private static ResNetConfig PreActivation(ResNetConfig config) => config with { Unit = ResNetUnit.PreActivation };
}
