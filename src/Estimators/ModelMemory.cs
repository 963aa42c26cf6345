using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Estimators;

/// <summary>
/// Refuses, before any data is read, a network whose weights, gradients and optimizer state cannot fit in the memory
/// this process may use: a <c>WidthMultiplier</c> of 16 makes resnet18 2.9 billion parameters (46 GB in float32 with
/// gradients and momentum), which ended in the kernel's out-of-memory kill rather than in an error, and 1e6 in
/// libtorch's "can't allocate memory" after the whole data set was read.
/// </summary>
internal static class ModelMemory
{
    /// <summary>Bytes a trained parameter takes at least: the float32 weight, its gradient, momentum and the master copy.</summary>
    private const long BytesPerParameter = 16;

    /// <summary>
    /// Widths up to 1 pass (every registered network at its published width trains in a few gigabytes). A wider one is
    /// estimated from the same network at width 1, whose parameter count grows at most with the square of the width.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The estimate exceeds the memory available; the message names the width and both sizes.</exception>
    public static void Check(ArchitectureConfig config, ArchitectureOptions options)
    {
        if (config.Width <= 1 || GC.GetGCMemoryInfo().TotalAvailableMemoryBytes <= 0)
        {
            return;
        }

        long atWidthOne;
        using (var reference = (config with { Width = 1.0 }).Create(options))
        {
            atWidthOne = reference.parameters().Sum(p => p.numel());
        }

        if (Shortfall(config.Name, config.Width, atWidthOne * config.Width * config.Width, estimated: true) is { } why)
        {
            throw new ArgumentOutOfRangeException("WidthMultiplier", config.Width, FormattableString.Invariant($"{why} ({atWidthOne:N0} parameters at width 1.) Use a smaller WidthMultiplier."));
        }
    }

    /// <summary>
    /// Why <paramref name="parameters"/> parameters cannot be trained in the memory this process may use, or null when they
    /// can (or when the runtime does not say how much it may use). The CLI calls it with the exact count of its meta-device build.
    /// </summary>
    public static string? Shortfall(string name, double width, double parameters, bool estimated)
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        double needed = parameters * BytesPerParameter;
        return available > 0 && needed > available
            ? FormattableString.Invariant($"{name} at width {width} has {(estimated ? "about " : string.Empty)}{parameters:N0} parameters: training needs at least {needed / 1e9:F1} GB for weights, gradients and optimizer state, and this process may use {available / 1e9:F1} GB.")
            : null;
    }
}
