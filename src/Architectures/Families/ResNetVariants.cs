using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Architectures.Families;

/// <summary>ResNet rows: depth (paper Table 1), the Bag of Tricks ResNet-D tweak and pre-activation, as data.</summary>
public static class ResNetVariants
{
    /// <summary>Registry rows for the ResNet family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            var resnet18 = new ResNetConfig(ResNetBlock.Basic, new[] { 2, 2, 2, 2 });
            var resnet34 = new ResNetConfig(ResNetBlock.Basic, new[] { 3, 4, 6, 3 });
            var resnet50 = new ResNetConfig(ResNetBlock.Bottleneck, new[] { 3, 4, 6, 3 });
            var resnet101 = new ResNetConfig(ResNetBlock.Bottleneck, new[] { 3, 4, 23, 3 });
            var resnet152 = new ResNetConfig(ResNetBlock.Bottleneck, new[] { 3, 8, 36, 3 });
            yield return Row("resnet18", resnet18, new(11_689_512, 1.814, 0, "TV"));
            yield return Row("resnet34", resnet34, new(21_797_672, 3.664, 0, "TV"));
            yield return Row("resnet50", resnet50, new(25_557_032, 4.089, 0, "TV"));
            yield return Row("resnet101", resnet101, new(44_549_160, 7.801, 0, "TV"));
            yield return Row("resnet152", resnet152, new(60_192_808, 11.514, 0, "TV"));
            yield return Row("resnet18d", D(resnet18), new(11_708_744, 2.054, 0, "COMP on TIMM"));
            yield return Row("resnet50d", D(resnet50), new(25_576_264, 4.329, 0, "COMP on TIMM"));
            yield return Row("resnet101d", D(resnet101), new(44_568_392, 8.041, 0, "COMP on TIMM"));
            yield return Row("resnetv2_50", PreActivation(resnet50), new(25_549_352, 4.089, 0, "COMP on TIMM"));
            yield return Row("resnetv2_101", PreActivation(resnet101), new(44_541_480, 7.801, 0, "COMP on TIMM"));
        }
    }

    /// <summary>ResNet-D = ResNet-C deep stem + average-pool shortcut (timm's "d" variants).</summary>
    private static ResNetConfig D(ResNetConfig config) => config with { Stem = ResNetStem.Deep, Downsample = ResNetDownsample.AveragePool };

    /// <summary>Full pre-activation units (He et al., 2016; timm's resnetv2 layout).</summary>
    private static ResNetConfig PreActivation(ResNetConfig config) => config with { Unit = ResNetUnit.PreActivation };

    private static ModelDefinition Row(string name, ResNetConfig config, ReferenceFigures reference) =>
        new(name, "ResNet", 224, options => new ResNet(config, options), reference);
}
