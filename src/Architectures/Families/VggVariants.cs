using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Architectures.Families;

/// <summary>VGG rows: the paper's Table 1 configurations as data.</summary>
public static class VggVariants
{
    /// <summary>Config A, 11 weight layers.</summary>
    public static VggConfig A { get; } = Config(new[] { 3 }, new[] { 3 }, new[] { 3, 3 }, new[] { 3, 3 }, new[] { 3, 3 });

    /// <summary>Config B, 13 weight layers.</summary>
    public static VggConfig B { get; } = Config(new[] { 3, 3 }, new[] { 3, 3 }, new[] { 3, 3 }, new[] { 3, 3 }, new[] { 3, 3 });

    /// <summary>Config C, 16 weight layers, the last of stages 3-5 a 1x1 convolution.</summary>
    public static VggConfig C { get; } = Config(new[] { 3, 3 }, new[] { 3, 3 }, new[] { 3, 3, 1 }, new[] { 3, 3, 1 }, new[] { 3, 3, 1 });

    /// <summary>Config D, 16 weight layers.</summary>
    public static VggConfig D { get; } = Config(new[] { 3, 3 }, new[] { 3, 3 }, new[] { 3, 3, 3 }, new[] { 3, 3, 3 }, new[] { 3, 3, 3 });

    /// <summary>Config E, 19 weight layers.</summary>
    public static VggConfig E { get; } = Config(new[] { 3, 3 }, new[] { 3, 3 }, new[] { 3, 3, 3, 3 }, new[] { 3, 3, 3, 3 }, new[] { 3, 3, 3, 3 });

    /// <summary>Registry rows for the VGG family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return Row("vgg11", A, new(132_863_336, 7.609, 0, "TV"));
            yield return Row("vgg11_bn", BatchNorm(A), new(132_868_840, 7.609, 0, "TV"));
            yield return Row("vgg11_lrn", A with { Normalization = VggNormalization.FirstLayerLrn }, new(132_863_336, 7.609, 0, "TV row of vgg11 (LRN has no parameters and no MACs)"));
            yield return Row("vgg13", B, new(133_047_848, 11.308, 0, "TV"));
            yield return Row("vgg13_bn", BatchNorm(B), new(133_053_736, 11.308, 0, "TV"));

            // The paper gives "about 134 M" parameters for C; its MACs are D's minus three 3x3 -> 1x1 layers (COMP).
            yield return Row("vgg16c", C, new(134_000_000, 11.771, 0.02, "PAPER params; COMP MACs"));
            yield return Row("vgg16c_bn", BatchNorm(C), new(134_000_000, 11.771, 0.02, "PAPER params; COMP MACs"));
            yield return Row("vgg16", D, new(138_357_544, 15.470, 0, "TV"));
            yield return Row("vgg16_bn", BatchNorm(D), new(138_365_992, 15.470, 0, "TV"));
            yield return Row("vgg19", E, new(143_667_240, 19.632, 0, "TV"));
            yield return Row("vgg19_bn", BatchNorm(E), new(143_678_248, 19.632, 0, "TV"));
        }
    }

    private static VggConfig Config(params int[][] kernels) =>
        new(kernels.Select((k, i) => new VggStage(Math.Min(64 << i, 512), k)).ToArray());

    private static VggConfig BatchNorm(VggConfig config) => config with { Normalization = VggNormalization.BatchNorm };

    private static ModelDefinition Row(string name, VggConfig config, ReferenceFigures reference) =>
        new(name, "VGG", 224, options => new Vgg(config, options), reference);
}
