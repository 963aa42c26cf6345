using System.Reflection;
using System.Runtime.InteropServices;
using TorchSharp;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>
/// The Debian 12 / Ubuntu 22.04 load fix for processes that no build prepared. TorchSharp 0.107's
/// <c>libLibTorchSharp.so</c> asks for <c>GLIBCXX_3.4.32</c> for a symbol it never calls, and those
/// systems' libstdc++ stops at 3.4.30. Builds and publishes fix the copy in their output folder
/// (<c>build/TorchSharpNativeFix.targets</c>, also in the MLNetCnn.Architectures package), but two kinds of
/// process get no fixed copy: a notebook or script (<c>#r "nuget: MLNetCnn.Estimators"</c>) loads TorchSharp
/// straight from the NuGet cache, where nothing may be changed, and a project outside this repository that
/// references <c>src/Estimators</c> by ProjectReference copies the stock library into its output without the
/// targets. For both, and only where the system libstdc++ lacks the version and the library still asks for it,
/// <see cref="EnsureLoadable"/> copies the library into a private temporary folder, marks that version need weak
/// (the same change as the build's), loads libtorch from beside TorchSharp (the <c>libtorch-cpu-linux-x64</c>
/// package, or the output folder) and then the patched copy, and points TorchSharp's own loads of
/// <c>LibTorchSharp</c> at it. It runs when this assembly loads (a module initializer), before any TorchSharp call
/// of the library; elsewhere it does nothing and loads nothing, so a serving process never loads libtorch through it.
/// Where it cannot help, <see cref="ThrowIfUnloadable"/> names the missing version and the fix.
/// </summary>
public static class TorchSharpNative
{
    private static readonly string[] WeakVersions = ["GLIBCXX_3.4.32"];
    private static readonly object Gate = new();
    private static string? _outcome;

    /// <summary>What <see cref="EnsureLoadable"/> did, in words (null before it ran).</summary>
    public static string? Outcome => _outcome;

    /// <summary>Loads a patched copy of TorchSharp's native library where one is needed (see the class). Idempotent; never throws.</summary>
    /// <returns>True when this call or an earlier one loaded a patched copy.</returns>
    public static bool EnsureLoadable()
    {
        lock (Gate)
        {
            if (_outcome is null)
            {
                try
                {
                    _outcome = Apply();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or DllNotFoundException or BadImageFormatException or InvalidOperationException)
                {
                    _outcome = $"not applied: {e.GetType().Name}: {e.Message}";
                }
            }

            return _outcome.StartsWith("loaded", StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// Throws <see cref="DllNotFoundException"/> naming <c>GLIBCXX_3.4.32</c> and the fix when <see cref="EnsureLoadable"/>
    /// found that TorchSharp's native library cannot load here and could not load a patched copy; TorchSharp's own
    /// error would otherwise report a missing libtorch package and hide the cause.
    /// </summary>
    public static void ThrowIfUnloadable()
    {
        EnsureLoadable();
        if (_outcome!.StartsWith(Unloadable, StringComparison.Ordinal))
        {
            throw new DllNotFoundException(
                $"TorchSharp's libLibTorchSharp.so asks for GLIBCXX_3.4.32, which this system's libstdc++ lacks ({_outcome}). "
                + "Import build/TorchSharpNativeFix.targets of MLNetCnn in the project (or reference the MLNetCnn.Architectures package, which brings it), "
                + "or install a libstdc++ from GCC 13 or newer.");
        }
    }

    private const string Unloadable = "cannot load";

    private static string Apply()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            return "not needed: not linux-x64";
        }

        // TorchSharp.dll in its package folder (<packages>/torchsharp/<version>/lib/<tfm>/TorchSharp.dll), or in a build output.
        string assemblyDirectory = Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? string.Empty;
        string package = Path.GetFullPath(Path.Combine(assemblyDirectory, "..", ".."));
        bool inPackage = assemblyDirectory.Length > 0 && File.Exists(Path.Combine(package, "torchsharp.nuspec"));
        string? stock = inPackage
            ? Path.Combine(package, "runtimes", "linux-x64", "native", "libLibTorchSharp.so")
            : new[] { Path.Combine(assemblyDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"), Path.Combine(assemblyDirectory, "libLibTorchSharp.so") }.FirstOrDefault(File.Exists);
        if (assemblyDirectory.Length == 0 || stock is null || !File.Exists(stock))
        {
            return "not needed: no libLibTorchSharp.so beside TorchSharp";
        }

        string? libStdCxx = ElfVersionPatch.SystemLibStdCxx;
        HashSet<string> missing = libStdCxx is null ? [] : ElfVersionPatch.MissingFrom(libStdCxx, WeakVersions);
        byte[] elf = File.ReadAllBytes(stock);
        if (missing.Count == 0 || ElfVersionPatch.MarkWeak(elf, missing) == 0)
        {
            return inPackage ? "not needed: the system libstdc++ has what libLibTorchSharp.so asks for" : "not needed: TorchSharp runs from a build output, which the build fixed";
        }

        string? libtorch = inPackage ? FindLibTorch(Path.GetFullPath(Path.Combine(package, "..", ".."))) : Path.Combine(Path.GetDirectoryName(stock)!, "libtorch.so");
        if (libtorch is null || !File.Exists(libtorch))
        {
            return $"{Unloadable}: {stock} needs {string.Join(", ", missing)} and no libtorch.so lies beside it to load a patched copy with";
        }

        // A folder only this user can write, removed once loaded: the mapping outlives the file.
        var folder = Directory.CreateTempSubdirectory("mlnetcnn-torchsharp-");
        string patched = Path.Combine(folder.FullName, "libLibTorchSharp.so");
        try
        {
            File.WriteAllBytes(patched, elf);
            NativeLibrary.Load(libtorch);
            var handle = NativeLibrary.Load(patched);
            if (!inPackage)
            {
                // In a build output the runtime would load the stock file by its full path; make TorchSharp's loads find the patched copy.
                NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, (name, _, _) => name == "LibTorchSharp" ? handle : IntPtr.Zero);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }

        return $"loaded a copy of {stock} with {string.Join(", ", missing)} marked weak, and {libtorch}";
    }

    /// <summary>libtorch.so of the libtorch-cpu-linux-x64 version TorchSharp was built for, else the newest present.</summary>
    private static string? FindLibTorch(string packages)
    {
        string root = Path.Combine(packages, "libtorch-cpu-linux-x64");
        if (!Directory.Exists(root))
        {
            return null;
        }

        var candidates = Directory.GetDirectories(root)
            .Select(d => (Version: NuGetVersion(Path.GetFileName(d)), Library: Path.Combine(d, "runtimes", "linux-x64", "native", "libtorch.so")))
            .Where(c => c.Version is not null && File.Exists(c.Library))
            .OrderByDescending(c => c.Version)
            .ToList();
        // TorchSharp's own constant ("2.10.0.0" for the 2.10.0 package), read as metadata: torch's static constructor does not run.
        var wanted = NuGetVersion(typeof(torch).GetField("libtorchPackageVersion", BindingFlags.NonPublic | BindingFlags.Static)?.GetRawConstantValue() as string);
        return candidates.FirstOrDefault(c => c.Version == wanted).Library ?? candidates.FirstOrDefault().Library;
    }

    /// <summary>"2.10.0" and "2.10.0.0" alike as 2.10.0.0; a prerelease label is dropped; null when not a version.</summary>
    private static Version? NuGetVersion(string? text)
    {
        return Version.TryParse(text?.Split('-')[0], out var v) ? new Version(v.Major, v.Minor, Math.Max(v.Build, 0), Math.Max(v.Revision, 0)) : null;
    }
}
