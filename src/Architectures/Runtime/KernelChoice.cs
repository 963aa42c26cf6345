using System.Text.Json.Serialization;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>Where the oneDNN instruction set of this process came from.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<KernelChoiceSource>))]
public enum KernelChoiceSource
{
    /// <summary>The kernel probe ran on this host in this process's start-up and chose it.</summary>
    Probe,

    /// <summary>An earlier probe on this host (same CPU, flags, caches and libtorch) chose it; read from the cache.</summary>
    Cache,

    /// <summary>The user set <c>ONEDNN_MAX_CPU_ISA</c> (or <c>DNNL_MAX_CPU_ISA</c>) before the process started; not probed.</summary>
    User,

    /// <summary>Not probed: the probe was switched off (<c>MLNETCNN_KERNEL_PROBE=off</c>), could not run here, or the platform has no choice to make.</summary>
    Unverified,
}

/// <summary>What the kernel probe knows of this CPU's bfloat16 convolutions.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BFloat16Kernels>))]
public enum BFloat16Kernels
{
    /// <summary>Not native here (no AVX512_BF16 or AMX, or the instruction set in force excludes them): oneDNN runs bfloat16 in slow reference code.</summary>
    NotNative,

    /// <summary>Native, and the probe found them right.</summary>
    Native,

    /// <summary>Native, but the probe found them wrong: bfloat16 training must not run here.</summary>
    Faulty,
}

/// <summary>
/// The instruction set oneDNN (libtorch's convolution library) runs with in this process, and why: the
/// fastest one whose convolutions the kernel probe found right on this host (see <see cref="KernelSelection"/>).
/// </summary>
/// <param name="Isa">An <c>ONEDNN_MAX_CPU_ISA</c> value (<c>AVX2</c>, <c>AVX512_CORE_BF16</c>, ...) or <see cref="DefaultIsa"/> for oneDNN's own choice (the best the CPU has).</param>
/// <param name="Source">Where the choice came from.</param>
/// <param name="Reason">What the probe found (or why there was none), in words.</param>
/// <param name="Host">The CPU, as the probe saw it.</param>
public sealed record KernelChoice(string Isa, KernelChoiceSource Source, string Reason, string Host)
{
    /// <summary>The value that leaves oneDNN at the best instruction set of the CPU.</summary>
    public const string DefaultIsa = "DEFAULT";

    /// <summary>Instruction sets tried before <see cref="Isa"/> and rejected, each with the reason.</summary>
    public IReadOnlyList<string> Rejected { get; init; } = [];

    /// <summary>Whether this CPU computes bfloat16 natively (AVX512_BF16 or AMX) at <see cref="Isa"/>, and whether the probe found those convolutions right.</summary>
    public BFloat16Kernels BFloat16 { get; init; }

    /// <summary>Why bfloat16 is or is not native here, in words.</summary>
    public string BFloat16Reason { get; init; } = string.Empty;

    /// <summary>Time of a bfloat16 convolution step over a float32 one, as the probe measured it at <see cref="Isa"/> (null when not measured).</summary>
    public double? BFloat16Slowdown { get; init; }

    /// <summary>
    /// Where the CPU hides its cache sizes and oneDNN would plan for 1-byte caches: what was done about it (oneDNN's own
    /// fallback sizes given to it, see docs/kernels.md), or null where nothing was needed. Applied in every process
    /// that uses this choice, before oneDNN's first convolution.
    /// </summary>
    public string? CacheSizes { get; init; }

    /// <summary>
    /// Where oneDNN's strided 1x1 convolution kernels failed the probe at <see cref="Isa"/> (wrong, or the process crashed):
    /// what was found, in words; null where they were right or not probed. The library's models never run those kernels (a
    /// strided 1x1 convolution runs as a stride-1 one on the subsampled input, <c>Layers.StridedPointwise</c>), so this
    /// rejects no instruction set; it says what a model written by hand would meet here.
    /// </summary>
    public string? StridedPointwiseFault { get; init; }

    /// <summary>The cache file of the verdict, when there is one.</summary>
    [JsonIgnore]
    public string? CachePath { get; init; }

    /// <inheritdoc/>
    public override string ToString()
    {
        string isa = Isa == DefaultIsa ? "oneDNN at the CPU's best instruction set" : $"oneDNN limited to {Isa}";
        string source = Source switch
        {
            KernelChoiceSource.Probe => "chosen by the kernel probe on this host",
            KernelChoiceSource.Cache => $"chosen by the kernel probe on this host (cached in {CachePath})",
            KernelChoiceSource.User => "set by the user",
            _ => "not probed",
        };
        string rejected = Rejected.Count == 0 ? string.Empty : $"; rejected: {string.Join("; ", Rejected)}";
        string caches = CacheSizes is null ? string.Empty : $", with oneDNN's fallback cache sizes ({CacheSizes})";
        string strided = StridedPointwiseFault is null ? string.Empty : $"; oneDNN's strided 1x1 kernels, which the library's models do not run, failed here: {StridedPointwiseFault}";
        return $"{isa}{caches} ({source}: {Reason}{rejected}{strided})";
    }
}
