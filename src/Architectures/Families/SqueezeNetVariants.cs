using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Architectures.Families;

/// <summary>SqueezeNet registry rows (<see cref="SqueezeNetConfig"/>).</summary>
public static class SqueezeNetVariants
{
    /// <summary>Registry rows for the SqueezeNet family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return new("squeezenet1_0", SqueezeNetConfig.V1_0, new(1_248_424, 0.819, 0, "TV"));
            yield return new("squeezenet1_1", SqueezeNetConfig.V1_1, new(1_235_496, 0.349, 0, "TV"));
        }
    }
}
