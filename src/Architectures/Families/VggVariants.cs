using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Architectures.Families;

/// <summary>VGG registry rows: the paper's Table 1 configurations (<see cref="VggConfig"/>) with and without batch norm.</summary>
public static class VggVariants
{
    /// <summary>Registry rows for the VGG family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return new("vgg11", VggConfig.A, new(132_863_336, 7.609, 0, "TV"));
            yield return new("vgg11_bn", BatchNorm(VggConfig.A), new(132_868_840, 7.609, 0, "TV"));
            yield return new("vgg11_lrn", VggConfig.A with { Normalization = VggNormalization.FirstLayerLrn }, new(132_863_336, 7.609, 0, "TV row of vgg11 (LRN has no parameters and no MACs)"));
            yield return new("vgg13", VggConfig.B, new(133_047_848, 11.308, 0, "TV"));
            yield return new("vgg13_bn", BatchNorm(VggConfig.B), new(133_053_736, 11.308, 0, "TV"));

            // The paper gives "about 134 M" parameters for C; its MACs are D's minus three 3x3 -> 1x1 layers (COMP).
            yield return new("vgg16c", VggConfig.C, new(134_000_000, 11.771, 0.02, "PAPER params; COMP MACs"));
            yield return new("vgg16c_bn", BatchNorm(VggConfig.C), new(134_000_000, 11.771, 0.02, "PAPER params; COMP MACs"));
            yield return new("vgg16", VggConfig.D, new(138_357_544, 15.470, 0, "TV"));
            yield return new("vgg16_bn", BatchNorm(VggConfig.D), new(138_365_992, 15.470, 0, "TV"));
            yield return new("vgg19", VggConfig.E, new(143_667_240, 19.632, 0, "TV"));
            yield return new("vgg19_bn", BatchNorm(VggConfig.E), new(143_678_248, 19.632, 0, "TV"));
        }
    }

    private static VggConfig BatchNorm(VggConfig config) => config with { Normalization = VggNormalization.BatchNorm };
}
