using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>
/// What this machine's CPU says about itself (Linux: <c>/proc/cpuinfo</c> and <c>/sys</c>): model, feature
/// flags and cache sizes. The kernel probe's verdict is cached per fingerprint of these, because the
/// faults it guards against were seen on some virtual CPUs and not on others of the same model.
/// </summary>
internal sealed record HostCpu(string Model, IReadOnlySet<string> Flags, string Caches, int LogicalCores)
{
    /// <summary>oneDNN's instruction-set names (<c>ONEDNN_MAX_CPU_ISA</c> values), newest first, with the CPU flags each needs.</summary>
    private static readonly (string Isa, string[] Flags)[] Ladder =
    [
        ("AVX512_CORE_AMX", ["amx_tile", "amx_bf16", "avx512_bf16"]),
        ("AVX512_CORE_BF16", ["avx512_bf16", "avx512f", "avx512bw", "avx512vl", "avx512dq"]),
        ("AVX512_CORE", ["avx512f", "avx512bw", "avx512vl", "avx512dq"]),
        ("AVX2", ["avx2", "fma"]),
        ("AVX", ["avx"]),
        ("SSE41", ["sse4_1"]),
    ];

    /// <summary>The CPU of this process, read once.</summary>
    public static HostCpu Current { get; } = Read();

    /// <summary>Runs bfloat16 arithmetic natively (AVX512_BF16 or AMX), where oneDNN has fast bfloat16 convolutions.</summary>
    public bool HasNativeBFloat16 => Flags.Contains("avx512_bf16") || Flags.Contains("amx_bf16");

    /// <summary>Whether the (virtual) CPU reports no cache information (<see cref="Caches"/> "none"), where oneDNN may plan for 1-byte caches (<see cref="OneDnnCacheSizes"/>).</summary>
    public bool HidesCaches => Caches == NoCaches;

    /// <summary>The oneDNN instruction sets this CPU supports, newest first (the candidates of the probe, after DEFAULT).</summary>
    public IReadOnlyList<string> SupportedIsas => Ladder.Where(l => l.Flags.All(Flags.Contains)).Select(l => l.Isa).ToList();

    /// <summary>Whether <paramref name="isa"/> (a ladder name, or DEFAULT) includes native bfloat16 on this CPU.</summary>
    public bool IsaRunsBFloat16(string isa) =>
        HasNativeBFloat16 && (isa == KernelChoice.DefaultIsa || isa is "AVX512_CORE_AMX" or "AVX512_CORE_BF16");

    /// <summary>A short stable hash of everything that identifies the host for the probe's cache.</summary>
    public string Fingerprint(string libraryVersion)
    {
        string text = string.Join("\n", Model, string.Join(' ', Flags.Order(StringComparer.Ordinal)), Caches, LogicalCores.ToString(CultureInfo.InvariantCulture), libraryVersion);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Model}, {LogicalCores} logical cores, caches {Caches}, {(SupportedIsas.Count > 0 ? SupportedIsas[0] : "no x86 SIMD")}{(HasNativeBFloat16 ? " with native bfloat16" : string.Empty)}";

    private static HostCpu Read()
    {
        string model = RuntimeInformation.ProcessArchitecture.ToString();
        var flags = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                int colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon < 0)
                {
                    if (flags.Count > 0)
                    {
                        break; // the first processor is enough
                    }

                    continue;
                }

                string key = line[..colon].Trim();
                string value = line[(colon + 1)..].Trim();
                if (key == "model name")
                {
                    model = value;
                }
                else if (key == "flags")
                {
                    flags.UnionWith(value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not Linux, or no /proc: no flags, so no probe candidates.
        }

        return new HostCpu(model, flags, ReadCaches(), Environment.ProcessorCount);
    }

    private const string NoCaches = "none";

    /// <summary>"L1d 32K, L1i 32K, L2 512K, L3 32768K", or "none" where the (virtual) CPU reports no cache information.</summary>
    private static string ReadCaches()
    {
        const string root = "/sys/devices/system/cpu/cpu0/cache";
        try
        {
            var parts = Directory.GetDirectories(root, "index*").Order(StringComparer.Ordinal).Select(d =>
            {
                string level = File.ReadAllText(Path.Combine(d, "level")).Trim();
                string type = File.ReadAllText(Path.Combine(d, "type")).Trim();
                string size = File.ReadAllText(Path.Combine(d, "size")).Trim();
                return $"L{level}{(type == "Data" ? "d" : type == "Instruction" ? "i" : string.Empty)} {size}";
            }).ToList();
            return parts.Count == 0 ? NoCaches : string.Join(", ", parts);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return NoCaches;
        }
    }
}
