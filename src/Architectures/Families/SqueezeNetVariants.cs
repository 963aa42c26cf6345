using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Architectures.Families;

/// <summary>SqueezeNet rows.</summary>
public static class SqueezeNetVariants
{
    /// <summary>Registry rows for the SqueezeNet family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return Row("squeezenet1_0", SqueezeNetVersion.V1_0, new(1_248_424, 0.819, 0, "TV"));
            yield return Row("squeezenet1_1", SqueezeNetVersion.V1_1, new(1_235_496, 0.349, 0, "TV"));
        }
    }

    private static ModelDefinition Row(string name, SqueezeNetVersion version, ReferenceFigures reference) =>
        new(name, "SqueezeNet", 224, options => new SqueezeNet(version, options), reference);
}
