using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>Settings of one kernel selection (tests use them to drive the fallback path).</summary>
/// <param name="CacheDirectory">Folder of the verdict cache, or null for none.</param>
/// <param name="Faults">Faults injected into the probe of an instruction set (tests): "float32" fails a check, "crash" kills the probe process with SIGFPE.</param>
/// <param name="Timeout">How long one probe process may take.</param>
/// <param name="CachesHidden">Whether to probe as on a CPU that reports no caches (tests); null: as this CPU does.</param>
internal sealed record ProbeSettings(string? CacheDirectory, IReadOnlyDictionary<string, string> Faults, TimeSpan Timeout, bool? CachesHidden = null)
{
    /// <summary>The process's settings: the user's cache folder, nothing injected, two minutes per probe.</summary>
    public static ProbeSettings Default => new(KernelSelection.DefaultCacheDirectory(), new Dictionary<string, string>(), TimeSpan.FromMinutes(2));
}

/// <summary>
/// Chooses, once per process and before oneDNN's first use, the instruction set libtorch's convolution
/// library (oneDNN) may use: the fastest one whose kernels are right on this host.
/// </summary>
/// <remarks>
/// <para>
/// Why: libtorch 2.10's oneDNN computed wrong convolutions (errors up to 100 %, NaN) at AVX2 and AVX-512
/// on some virtual CPUs, at channel counts that are not a multiple of the vector width, while the same
/// instruction sets are right on other hosts; SSE4.1 costs half the training speed. So the answer is a
/// property of the host, measured rather than assumed: the kernel probe runs <see cref="KernelChecks"/>
/// (convolution forward and both gradients in float32, and bfloat16 where the CPU has it natively, at
/// awkward channel counts, 1x1, depthwise and grouped, NCHW and channels-last, against float64) in
/// a child process per candidate, best first (oneDNN's default, then each <c>ONEDNN_MAX_CPU_ISA</c> level the
/// CPU supports), and keeps the first that passes. A child that crashes (SIGFPE in a kernel's set-up was
/// seen) or times out fails its level. Strided 1x1 convolutions, which the models never hand to oneDNN
/// (<c>Layers.StridedPointwise</c>), are checked afterwards in a child of their own at the chosen level and
/// recorded (<see cref="KernelChoice.StridedPointwiseFault"/>), not held against it.
/// </para>
/// <para>
/// The verdict is cached per (CPU model, flags, cache sizes, cores, TorchSharp and libtorch version) in
/// <c>$MLNETCNN_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/mlnetcnn</c>, else <c>~/.cache/mlnetcnn</c>, so the
/// probe (a few seconds) runs once per host. It is applied by setting <c>ONEDNN_MAX_CPU_ISA</c> in this
/// process, which oneDNN reads at its first use; every assembly of this library does this as it loads (a
/// module initializer), so touch a library type before calling TorchSharp yourself. A value the user set in
/// the environment wins and is not probed; <c>MLNETCNN_KERNEL_PROBE=off</c> skips the probe and leaves oneDNN
/// at its default. <see cref="Current"/> says what was chosen and why; the trainer writes it to its log.
/// </para>
/// </remarks>
public static class KernelSelection
{
    /// <summary>Bumped whenever the checks change, so older verdicts are probed again.</summary>
    private const int ProbeVersion = 4;

    /// <summary>The level to fall back to where a verdict's cache sizes cannot be applied: it passed every probe, with or without caches.</summary>
    private const string SafeIsa = "SSE41";

    /// <summary>An injected fault (tests) with this prefix goes to the strided 1x1 child instead: "strided-crash", "strided-float32".</summary>
    internal const string StridedFaultPrefix = "strided-";

    private static readonly object Gate = new();
    private static KernelChoice? _current;

    /// <summary>The choice in force in this process (made on first use).</summary>
    public static KernelChoice Current
    {
        get
        {
            EnsureApplied();
            return _current!;
        }
    }

    /// <summary>Makes and applies the choice once per process (see the class). Idempotent; never throws.</summary>
    public static void EnsureApplied()
    {
        lock (Gate)
        {
            if (_current is not null)
            {
                return;
            }

            string host = HostCpu.Current.ToString();
            string? user = Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA") ?? Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA");
            string? switchedOff = Environment.GetEnvironmentVariable("MLNETCNN_KERNEL_PROBE");
            if (KernelProbe.IsChild)
            {
                _current = new KernelChoice(user ?? KernelChoice.DefaultIsa, KernelChoiceSource.Unverified, "inside a kernel probe process", host);
            }
            else if (user is not null)
            {
                _current = WithCacheSizesWhereHidden(Unprobed(user, KernelChoiceSource.User, "ONEDNN_MAX_CPU_ISA was set before the process started"));
            }
            else if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            {
                _current = new KernelChoice(KernelChoice.DefaultIsa, KernelChoiceSource.Unverified, "the probe covers x86-64 Linux; oneDNN keeps its default here", host);
            }
            else if (switchedOff is "off" or "0" or "false")
            {
                _current = WithCacheSizesWhereHidden(Unprobed(KernelChoice.DefaultIsa, KernelChoiceSource.Unverified, $"switched off by MLNETCNN_KERNEL_PROBE={switchedOff}"));
            }
            else
            {
                try
                {
                    _current = Select(ProbeSettings.Default);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or JsonException)
                {
                    _current = new KernelChoice(KernelChoice.DefaultIsa, KernelChoiceSource.Unverified, $"the probe failed: {e.GetType().Name}: {e.Message}", host);
                }

                if (_current.Isa != KernelChoice.DefaultIsa)
                {
                    SetIsa(_current.Isa);
                }

                if (_current.CacheSizes is not null && !OneDnnCacheSizes.Apply())
                {
                    // The probe's child could give oneDNN its cache sizes and this process cannot: the chosen set is not safe here.
                    _current = _current with { Isa = SafeIsa, Reason = $"{_current.Reason}; but oneDNN's cache sizes could not be set in this process ({OneDnnCacheSizes.Outcome}), so {SafeIsa}, right on every host probed so far, was taken", CacheSizes = null };
                    SetIsa(SafeIsa);
                }
            }
        }
    }

    /// <summary>
    /// An unprobed choice (the user's instruction set, or the probe switched off) on a CPU that hides its caches: oneDNN is
    /// given its fallback cache sizes all the same, since with the 1-byte caches it reads there every level above SSE4.1
    /// computed wrong 3x3 convolutions on the Zen 5 VM (AVX2 errors 0.46 to 0.55, AVX and AVX-512 infinity), and a user's
    /// <c>ONEDNN_MAX_CPU_ISA=AVX2</c> trained on them without a word.
    /// </summary>
    private static KernelChoice WithCacheSizesWhereHidden(KernelChoice choice) =>
        HostCpu.Current.HidesCaches && OneDnnCacheSizes.Apply() && OneDnnCacheSizes.Outcome!.StartsWith("set", StringComparison.Ordinal)
            ? choice with { CacheSizes = OneDnnCacheSizes.Outcome }
            : choice;

    /// <summary>A choice made without the probe; native bfloat16 is taken from the CPU's flags, unverified.</summary>
    private static KernelChoice Unprobed(string isa, KernelChoiceSource source, string reason)
    {
        var cpu = HostCpu.Current;
        bool native = cpu.IsaRunsBFloat16(isa.ToUpperInvariant());
        return new KernelChoice(isa, source, reason, cpu.ToString())
        {
            BFloat16 = native ? BFloat16Kernels.Native : BFloat16Kernels.NotNative,
            BFloat16Reason = native ? "the CPU's flags include native bfloat16 (not probed)" : "the CPU's flags or the instruction set in force leave out native bfloat16",
        };
    }

    /// <summary>Chooses the instruction set for this host: the cached verdict, or a new probe (written to the cache).</summary>
    internal static KernelChoice Select(ProbeSettings settings)
    {
        var cpu = HostCpu.Current;
        string? cachePath = settings.CacheDirectory is null ? null : Path.Combine(settings.CacheDirectory, $"kernels-{cpu.Fingerprint(LibraryVersion())}.json");
        if (ReadCache(cachePath) is { } cached)
        {
            return cached;
        }

        using var gate = CacheLock(cachePath);
        if (ReadCache(cachePath) is { } probedMeanwhile)
        {
            return probedMeanwhile;
        }

        var rejected = new List<string>();
        bool anyReport = false;
        foreach (var (isa, cacheFix) in Candidates(cpu, settings.CachesHidden ?? cpu.HidesCaches))
        {
            bool bfloat16 = cpu.IsaRunsBFloat16(isa);
            string name = CandidateName(isa, cacheFix);
            string? fault = settings.Faults.GetValueOrDefault(name);
            bool stridedFault = fault?.StartsWith(StridedFaultPrefix, StringComparison.Ordinal) == true;
            var run = KernelProbe.Run(isa, bfloat16, stridedFault ? null : fault, settings.Timeout, cacheFix);
            anyReport |= run.Outcome is not null;
            if (!run.Passed)
            {
                rejected.Add($"{name}: {run.Why}");
                continue;
            }

            var outcome = run.Outcome!;
            var strided = KernelProbe.Run(isa, bfloat16: false, stridedFault ? fault![StridedFaultPrefix.Length..] : null, settings.Timeout, cacheFix, KernelCheckSet.StridedPointwise);
            var native = !bfloat16 ? BFloat16Kernels.NotNative : outcome.BFloat16Failures.Count == 0 ? BFloat16Kernels.Native : BFloat16Kernels.Faulty;
            var choice = new KernelChoice(isa, KernelChoiceSource.Probe, $"{run.Why}{(run.OneDnnIsa is null ? string.Empty : $"; oneDNN ran {run.OneDnnIsa}")}", cpu.ToString())
            {
                Rejected = rejected,
                BFloat16 = native,
                BFloat16Reason = !cpu.HasNativeBFloat16 ? "this CPU has no AVX512_BF16 or AMX, so oneDNN runs bfloat16 convolutions in slow reference code"
                    : !bfloat16 ? $"{isa} leaves out the bfloat16 instructions"
                    : native == BFloat16Kernels.Native ? "native bfloat16 convolutions passed the probe"
                    : $"bfloat16 convolutions were wrong: {string.Join("; ", outcome.BFloat16Failures)}",
                BFloat16Slowdown = outcome.BFloat16Slowdown,
                CacheSizes = cacheFix ? run.CacheSizes : null,
                StridedPointwiseFault = strided.Passed ? null : strided.Why,
                CachePath = cachePath,
            };
            WriteCache(cachePath, choice);
            return choice;
        }

        // Nothing passed. If no child even reported, the probe could not run here: say so, and probe again next time.
        return anyReport
            ? new KernelChoice(cpu.SupportedIsas.LastOrDefault() ?? KernelChoice.DefaultIsa, KernelChoiceSource.Probe, "no instruction set passed the probe; the lowest was kept", cpu.ToString()) { Rejected = rejected }
            : new KernelChoice(KernelChoice.DefaultIsa, KernelChoiceSource.Unverified, $"the probe could not run: {rejected.FirstOrDefault()}", cpu.ToString());
    }

    /// <summary>How a candidate run with oneDNN's fallback cache sizes is named in <see cref="KernelChoice.Rejected"/> and in injected faults.</summary>
    internal const string CacheFixSuffix = "+cache-sizes";

    /// <summary>
    /// The probe's candidates, best first: oneDNN's default, then each level the CPU supports. On a CPU that reports no
    /// caches each level is tried first with oneDNN's fallback cache sizes (<see cref="OneDnnCacheSizes"/>: what oneDNN
    /// plans with on a CPU that reports no cache levels at all, instead of 1-byte ones), then as it is, for a libtorch
    /// build whose CPU description this library does not know. A host that reports its caches never needs them.
    /// </summary>
    internal static IEnumerable<(string Isa, bool CacheFix)> Candidates(HostCpu cpu, bool cachesHidden)
    {
        foreach (string isa in cpu.SupportedIsas.Prepend(KernelChoice.DefaultIsa))
        {
            if (cachesHidden)
            {
                yield return (isa, true);
            }

            yield return (isa, false);
        }
    }

    /// <summary>A candidate's name in <see cref="KernelChoice.Rejected"/> and in injected faults: the level, with <see cref="CacheFixSuffix"/> when the cache sizes are given.</summary>
    internal static string CandidateName(string isa, bool cacheFix) => cacheFix ? isa + CacheFixSuffix : isa;

    /// <summary><c>$MLNETCNN_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/mlnetcnn</c>, else <c>~/.cache/mlnetcnn</c>; null without a home.</summary>
    internal static string? DefaultCacheDirectory()
    {
        if (Environment.GetEnvironmentVariable("MLNETCNN_CACHE_DIR") is { Length: > 0 } explicitFolder)
        {
            return explicitFolder;
        }

        if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg)
        {
            return Path.Combine(xdg, "mlnetcnn");
        }

        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return home.Length == 0 ? null : Path.Combine(home, ".cache", "mlnetcnn");
    }

    /// <summary>What the verdict depends on besides the CPU: the checks, TorchSharp and the libtorch it binds.</summary>
    private static string LibraryVersion()
    {
        var torch = typeof(TorchSharp.torch);
        string torchSharp = torch.Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? torch.Assembly.GetName().Version?.ToString() ?? "?";
        string libtorch = torch.GetField("libtorchPackageVersion", BindingFlags.NonPublic | BindingFlags.Static)?.GetRawConstantValue() as string ?? "?";
        return $"probe {ProbeVersion}, TorchSharp {torchSharp}, libtorch {libtorch}";
    }

    private static KernelChoice? ReadCache(string? path)
    {
        try
        {
            if (path is null || !File.Exists(path))
            {
                return null;
            }

            var choice = JsonSerializer.Deserialize<KernelChoice>(File.ReadAllText(path));
            return choice is null || string.IsNullOrEmpty(choice.Isa) ? null : choice with { Source = KernelChoiceSource.Cache, CachePath = path };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            return null; // unreadable or damaged: probe again
        }
    }

    private static void WriteCache(string? path, KernelChoice choice)
    {
        if (path is null)
        {
            return;
        }

        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            string temporary = $"{path}.{Environment.ProcessId}.tmp";
            File.WriteAllText(temporary, JsonSerializer.Serialize(choice, new JsonSerializerOptions { WriteIndented = true }));
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An unwritable cache only means probing again next time.
        }
    }

    /// <summary>One probe per host at a time (test hosts and tools start several processes); waits at most five minutes.</summary>
    private static FileStream? CacheLock(string? path)
    {
        if (path is null)
        {
            return null;
        }

        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (true)
        {
            try
            {
                return new FileStream(path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(200);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
    }

    /// <summary>
    /// Sets <c>ONEDNN_MAX_CPU_ISA</c> where oneDNN reads it (the C environment) and where .NET code reads it: once .NET has
    /// taken its own copy of the environment (which setting any variable through .NET does), <c>setenv</c> does not reach
    /// it; after loading libtorch for the cache sizes this process's .NET view no longer showed the value <c>setenv</c> set.
    /// </summary>
    private static void SetIsa(string isa)
    {
        _ = setenv("ONEDNN_MAX_CPU_ISA", isa, 1);
        Environment.SetEnvironmentVariable("ONEDNN_MAX_CPU_ISA", isa);
    }

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int setenv(string name, string value, int overwrite);
}
