using System.Collections.Concurrent;
using MLNetCnn.Architectures.Families;

namespace MLNetCnn.Architectures.Models;

/// <summary>Published figures for a registered model at its native resolution with 1000 classes.</summary>
/// <param name="Parameters">Trainable parameters.</param>
/// <param name="GigaMacs">Multiply-accumulates per image, in billions.</param>
/// <param name="Tolerance">Relative tolerance: 0 for exact parameter counts, 0.02 where the source is rounded.</param>
/// <param name="Source">Where the figure comes from (see shared/reference/architectures.md).</param>
public sealed record ReferenceFigures(long Parameters, double GigaMacs, double Tolerance, string Source);

/// <summary>A registered architecture: a name for a family's typed config row, and its reference figures.</summary>
/// <param name="Name">Registered name, e.g. "resnet50d".</param>
/// <param name="Config">The row (<c>ResNetConfig.ResNet50 with { Variant = ResNetVariant.D }</c>).</param>
/// <param name="Reference">Published figures, when there are any.</param>
public sealed record ModelDefinition(string Name, ArchitectureConfig Config, ReferenceFigures? Reference = null)
{
    /// <summary>Family name, e.g. "ResNet".</summary>
    public string Family => Config.Family;

    /// <summary>The native input resolution.</summary>
    public int NativeInputSize => Config.NativeInputSize;

    /// <summary>The smallest input the published stem accepts (without <see cref="ArchitectureOptions.SmallInputStem"/>); tests run the quick checks at this size.</summary>
    public int MinInputSize => Config.MinInputSize;

    /// <summary>Builds the model; a null input size means the native one.</summary>
    public ImageClassifier Create(ArchitectureOptions? options = null) => Config.Create(options);
}

/// <summary>The one source of truth for architecture names. Tests iterate it, so registering a model puts it under test.</summary>
public static class ModelRegistry
{
    private static readonly ConcurrentDictionary<string, ModelDefinition> Models = new(StringComparer.OrdinalIgnoreCase);

    static ModelRegistry()
    {
        var families = new[]
        {
            ResNetVariants.Definitions,
            VggVariants.Definitions,
            SqueezeNetVariants.Definitions,
            MobileNetV2Variants.Definitions,
            MobileNetV1Variants.Definitions,
            ShuffleNetV2Variants.Definitions,
            GoogLeNetVariants.Definitions,
            InceptionV3Variants.Definitions,
            EfficientNetVariants.Definitions,
            XceptionVariants.Definitions,
            ShuffleNetV1Variants.Definitions,
        };
        foreach (var definition in families.SelectMany(f => f))
        {
            Register(definition);
        }
    }

    /// <summary>All registered names, sorted.</summary>
    public static IReadOnlyList<string> Names => Models.Keys.Order(StringComparer.Ordinal).ToList();

    /// <summary>All registered definitions, sorted by name.</summary>
    public static IReadOnlyList<ModelDefinition> All => Models.Values.OrderBy(d => d.Name, StringComparer.Ordinal).ToList();

    /// <summary>Adds a definition; a name already taken throws.</summary>
    public static void Register(ModelDefinition definition)
    {
        if (!Models.TryAdd(definition.Name, definition))
        {
            throw new InvalidOperationException($"An architecture named '{definition.Name}' is already registered.");
        }
    }

    /// <summary>Looks up a name (case-insensitive); an unknown name throws with the nearest names suggested.</summary>
    public static ModelDefinition Get(string name)
    {
        if (Models.TryGetValue(name, out var definition))
        {
            return definition;
        }

        var nearest = Models.Keys.OrderBy(k => EditDistance(k.ToLowerInvariant(), name.ToLowerInvariant())).ThenBy(k => k, StringComparer.Ordinal).Take(3);
        throw new KeyNotFoundException($"Unknown architecture '{name}'. Did you mean: {string.Join(", ", nearest)}? Registered: {string.Join(", ", Names)}.");
    }

    /// <summary>The registered name whose row equals <paramref name="config"/>, or null.</summary>
    public static string? NameOf(ArchitectureConfig config) =>
        Models.Values.Where(d => d.Config.Equals(config)).Select(d => d.Name).Order(StringComparer.Ordinal).FirstOrDefault();

    /// <summary>Creates a registered model.</summary>
    public static ImageClassifier Create(string name, ArchitectureOptions? options = null) => Get(name).Create(options);

    private static int EditDistance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j] + 1, current[j - 1] + 1));
            }

            previous = current;
        }

        return previous[b.Length];
    }
}
