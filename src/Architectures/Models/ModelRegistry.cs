using System.Collections.Concurrent;
using MLNetCnn.Architectures.Families;

namespace MLNetCnn.Architectures.Models;

/// <summary>Published figures for a registered model at its native resolution with 1000 classes.</summary>
/// <param name="Parameters">Trainable parameters.</param>
/// <param name="GigaMacs">Multiply-accumulates per image, in billions.</param>
/// <param name="Tolerance">Relative tolerance: 0 for exact parameter counts, 0.02 where the source is rounded.</param>
/// <param name="Source">Where the figure comes from (see shared/reference/architectures.md).</param>
public sealed record ReferenceFigures(long Parameters, double GigaMacs, double Tolerance, string Source);

/// <summary>A registered architecture: name, family, native input size, factory and reference figures.</summary>
public sealed record ModelDefinition(string Name, string Family, int NativeInputSize, Func<ArchitectureOptions, ImageClassifier> Factory, ReferenceFigures? Reference = null)
{
    /// <summary>
    /// The smallest input the published stem accepts (without <see cref="ArchitectureOptions.SmallInputStem"/>);
    /// tests run the quick checks at this size.
    /// </summary>
    public int MinInputSize { get; init; } = 32;

    /// <summary>Builds the model; a null input size means the native one.</summary>
    public ImageClassifier Create(ArchitectureOptions? options = null)
    {
        var o = (options ?? new ArchitectureOptions()).Validate();
        return Factory(o.InputSize is null ? o with { InputSize = NativeInputSize } : o);
    }
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
