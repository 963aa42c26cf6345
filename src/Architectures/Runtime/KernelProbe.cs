using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using System.Text.Json;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>What one probe process reported.</summary>
/// <param name="Isa">The <c>ONEDNN_MAX_CPU_ISA</c> it ran with.</param>
/// <param name="Passed">Whether every float32 check passed.</param>
/// <param name="Why">What went wrong (failed checks, a crash, a time-out), or what passed.</param>
/// <param name="OneDnnIsa">The instruction set oneDNN reported using (its verbose "isa:" line), when seen.</param>
/// <param name="Outcome">The checks' results, when the process got that far.</param>
/// <param name="CacheSizes">What the child did about oneDNN's cache sizes when asked to give it its fallback sizes (<see cref="OneDnnCacheSizes.Outcome"/>).</param>
internal sealed record ProbeRun(string Isa, bool Passed, string Why, string? OneDnnIsa, ProbeOutcome? Outcome, string? CacheSizes = null);

/// <summary>
/// Runs <see cref="KernelChecks"/> in a child process per instruction set (oneDNN reads
/// <c>ONEDNN_MAX_CPU_ISA</c> once per process, and a wrong kernel can crash the process that runs it). The
/// child is <c>dotnet exec MLNetCnn.Architectures.dll --mlnetcnn-kernel-probe</c>: this assembly has an entry
/// point for that purpose only.
/// </summary>
internal static class KernelProbe
{
    /// <summary>The child's first argument.</summary>
    public const string ChildArgument = "--mlnetcnn-kernel-probe";

    /// <summary>Set in a probe child's environment (it must not probe again).</summary>
    public const string ChildVariable = "MLNETCNN_KERNEL_PROBE_CHILD";

    /// <summary>The child's fourth argument for <see cref="KernelCheckSet.StridedPointwise"/>.</summary>
    private const string StridedArgument = "strided";

    private const string PathsVariable = "MLNETCNN_KERNEL_PROBE_PATHS";
    private const string ResultPrefix = "MLNETCNN_KERNEL_PROBE ";
    private const string CacheSizesPrefix = "MLNETCNN_KERNEL_PROBE_CACHE_SIZES ";

    /// <summary>True inside a probe child.</summary>
    public static bool IsChild => Environment.GetEnvironmentVariable(ChildVariable) == "1";

    /// <summary>
    /// In a probe child: resolve assemblies the child's own folder lacks (a notebook loads this library and
    /// TorchSharp from separate NuGet package folders) from the folders the parent passed.
    /// </summary>
    public static void RegisterChildResolver()
    {
        string[] folders = (Environment.GetEnvironmentVariable(PathsVariable) ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        AssemblyLoadContext.Default.Resolving += (context, name) =>
        {
            foreach (string folder in folders)
            {
                string path = Path.Combine(folder, name.Name + ".dll");
                if (File.Exists(path))
                {
                    return context.LoadFromAssemblyPath(path);
                }
            }

            return null;
        };
    }

    /// <summary>The child's work: run the checks, print one result line, exit 0 when every float32 check passed, else 1.</summary>
    public static int RunChild(string[] args)
    {
        bool bfloat16 = args.Length > 1 && args[1] == "bf16";
        string? failOn = args.Length > 2 && args[2] != "-" ? args[2] : null;
        var set = args.Length > 3 && args[3] == StridedArgument ? KernelCheckSet.StridedPointwise : KernelCheckSet.Models;
        if (failOn == "crash")
        {
            // What a kernel's integer division by zero does, injected by a test: SIGFPE with its default action
            // (the runtime's handler would otherwise treat a raised, not faulting, SIGFPE as handled).
            _ = signal(SigFpe, IntPtr.Zero);
            _ = raise(SigFpe);
        }

        if (Environment.GetEnvironmentVariable(OneDnnCacheSizes.ChildVariable) == "1")
        {
            if (!OneDnnCacheSizes.Apply())
            {
                // Asked to run with oneDNN's fallback cache sizes and unable to give them: this candidate cannot pass.
                Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(new ProbeOutcome(0, [$"oneDNN's cache sizes could not be set: {OneDnnCacheSizes.Outcome}"], false, [], 0)));
                return 1;
            }

            Console.WriteLine(CacheSizesPrefix + OneDnnCacheSizes.Outcome);
        }

        var outcome = KernelChecks.Run(bfloat16, failOn, set);
        Console.Out.Flush();
        Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(outcome));
        Console.Out.Flush();
        return outcome.Failures.Count == 0 ? 0 : 1;
    }

    /// <summary>Runs one probe child at <paramref name="isa"/>; never throws for what the child does.</summary>
    /// <param name="isa">An <c>ONEDNN_MAX_CPU_ISA</c> value, or <see cref="KernelChoice.DefaultIsa"/>.</param>
    /// <param name="bfloat16">Check bfloat16 convolutions too.</param>
    /// <param name="failOn">An injected fault (tests): "float32" fails a check, "crash" ends the child with SIGFPE; null for none.</param>
    /// <param name="timeout">How long the child may take.</param>
    /// <param name="cacheFix">Give oneDNN its fallback cache sizes in the child first (<see cref="OneDnnCacheSizes"/>).</param>
    /// <param name="set">Which checks the child runs.</param>
    public static ProbeRun Run(string isa, bool bfloat16, string? failOn, TimeSpan timeout, bool cacheFix = false, KernelCheckSet set = KernelCheckSet.Models)
    {
        var start = ChildStart(isa, bfloat16, failOn, cacheFix, set);

        if (start is null)
        {
            return new ProbeRun(isa, false, "the probe cannot start a child process here (no dotnet host found, or a single-file app)", null, null);
        }

        using var process = new Process { StartInfo = start };
        var output = new List<string>();
        var errors = new List<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.Add(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (errors) { errors.Add(e.Data); } } };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new ProbeRun(isa, false, $"the probe process did not start: {e.Message}", null, null);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new ProbeRun(isa, false, $"timed out after {timeout.TotalSeconds:F0} s", null, null);
        }

        process.WaitForExit(); // drains the asynchronous readers
        string? oneDnnIsa = output.Select(l => l.IndexOf(",isa:", StringComparison.Ordinal) is int i and >= 0 ? l[(i + 5)..].Trim() : null).FirstOrDefault(l => l is not null);
        string? result = output.LastOrDefault(l => l.StartsWith(ResultPrefix, StringComparison.Ordinal));
        var outcome = result is null ? null : JsonSerializer.Deserialize<ProbeOutcome>(result[ResultPrefix.Length..]);
        if (outcome is null)
        {
            string tail = string.Join(" | ", Meaningful(errors).TakeLast(3));
            return new ProbeRun(isa, false, $"the probe process ended with {DescribeExit(process.ExitCode)} before reporting{(tail.Length > 0 ? $" ({tail})" : string.Empty)}", oneDnnIsa, null);
        }

        string? cacheSizes = output.LastOrDefault(l => l.StartsWith(CacheSizesPrefix, StringComparison.Ordinal))?[CacheSizesPrefix.Length..];
        if (outcome.Failures.Count == 0 && process.ExitCode != 0)
        {
            // Every check agreed, then the process crashed (on exit, as oneDNN freed its kernels): memory was corrupted on the way.
            string tail = string.Join(" | ", Meaningful(errors).TakeLast(2));
            return new ProbeRun(isa, false, $"the checks agreed with float64, but the probe process then ended with {DescribeExit(process.ExitCode)}{(tail.Length > 0 ? $" ({tail})" : string.Empty)}", oneDnnIsa, outcome, cacheSizes);
        }

        bool passed = outcome.Failures.Count == 0;
        string why = passed
            ? FormattableString.Invariant($"{outcome.Checks} convolutions (forward, input and weight gradients) agreed with float64")
            : $"{outcome.Failures.Count} or more wrong convolutions, e.g. {string.Join("; ", outcome.Failures)}";
        return new ProbeRun(isa, passed, why, oneDnnIsa, outcome, cacheSizes);
    }

    private static ProcessStartInfo? ChildStart(string isa, bool bfloat16, string? failOn, bool cacheFix, KernelCheckSet set)
    {
        string assembly = typeof(KernelProbe).Assembly.Location;
        string? dotnet = DotnetHost();
        if (assembly.Length == 0 || dotnet is null)
        {
            return null;
        }

        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("exec");
        if (!File.Exists(Path.ChangeExtension(assembly, ".runtimeconfig.json")))
        {
            // A package folder (notebooks): no runtimeconfig beside the assembly, so name the running framework.
            start.ArgumentList.Add("--runtimeconfig");
            start.ArgumentList.Add(RuntimeConfig());
        }

        start.ArgumentList.Add(assembly);
        start.ArgumentList.Add(ChildArgument);
        start.ArgumentList.Add(bfloat16 ? "bf16" : "fp32");
        start.ArgumentList.Add(failOn ?? "-");
        start.ArgumentList.Add(set == KernelCheckSet.StridedPointwise ? StridedArgument : "models");

        start.Environment[ChildVariable] = "1";
        start.Environment.Remove("DNNL_MAX_CPU_ISA");
        start.Environment.Remove("DNNL_VERBOSE");
        if (isa == KernelChoice.DefaultIsa)
        {
            start.Environment.Remove("ONEDNN_MAX_CPU_ISA");
        }
        else
        {
            start.Environment["ONEDNN_MAX_CPU_ISA"] = isa;
        }

        start.Environment["ONEDNN_VERBOSE"] = "1"; // its "isa:" line says what oneDNN really ran
        if (cacheFix)
        {
            start.Environment[OneDnnCacheSizes.ChildVariable] = "1";
        }

        var folders = new[] { Path.GetDirectoryName(assembly), Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location) }
            .Where(f => !string.IsNullOrEmpty(f)).Distinct(StringComparer.Ordinal);
        start.Environment[PathsVariable] = string.Join(Path.PathSeparator, folders);
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string natives && natives.Length > 0)
        {
            // The parent's native library folders (libtorch under runtimes/<rid>/native), for the child's loader.
            string existing = start.Environment.TryGetValue("LD_LIBRARY_PATH", out var value) ? value ?? string.Empty : string.Empty;
            start.Environment["LD_LIBRARY_PATH"] = string.Join(Path.PathSeparator, natives.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Append(existing).Where(p => p.Length > 0));
        }

        return start;
    }

    /// <summary>The <c>dotnet</c> host that runs this process's framework.</summary>
    private static string? DotnetHost()
    {
        string executable = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        var candidates = new[]
        {
            Environment.ProcessPath,
            Environment.GetEnvironmentVariable("DOTNET_HOST_PATH"),
            Environment.GetEnvironmentVariable("DOTNET_ROOT") is { } root ? Path.Combine(root, executable) : null,
            Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", executable)),
        };
        return candidates.FirstOrDefault(c => c is not null && Path.GetFileName(c) == executable && File.Exists(c));
    }

    /// <summary>A runtimeconfig naming the framework this process runs on, written once into the temp folder.</summary>
    private static string RuntimeConfig()
    {
        string version = Environment.Version.ToString();
        string path = Path.Combine(Path.GetTempPath(), $"mlnetcnn-kernel-probe-{version}.runtimeconfig.json");
        if (!File.Exists(path))
        {
            string tfm = $"net{Environment.Version.Major}.{Environment.Version.Minor}";
            string json = JsonSerializer.Serialize(new { runtimeOptions = new { tfm, framework = new { name = "Microsoft.NETCore.App", version } } });
            string temporary = path + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
            File.WriteAllText(temporary, json);
            File.Move(temporary, path, overwrite: true);
        }

        return path;
    }

    /// <summary>
    /// The child's error lines worth quoting in a verdict: not blank, and not libtorch's "Could not initialize NNPACK!"
    /// warning, which it prints on every CPU NNPACK does not know and which filled each rejection with 400 repeated bytes.
    /// </summary>
    private static IEnumerable<string> Meaningful(IEnumerable<string> errors) =>
        errors.Where(e => e.Trim().Length > 0 && !e.Contains("NNPACK.cpp", StringComparison.Ordinal));

    private const int SigFpe = 8;

    [DllImport("libc", EntryPoint = "signal")]
    private static extern IntPtr signal(int signal, IntPtr handler);

    [DllImport("libc", EntryPoint = "raise")]
    private static extern int raise(int signal);

    private static string DescribeExit(int code) => code switch
    {
        > 128 and < 160 => FormattableString.Invariant($"signal {code - 128}{(code - 128) switch { 4 => " (SIGILL)", 6 => " (SIGABRT)", 8 => " (SIGFPE)", 9 => " (SIGKILL)", 11 => " (SIGSEGV)", _ => string.Empty }}"),
        _ => FormattableString.Invariant($"exit code {code}"),
    };
}
