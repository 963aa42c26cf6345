using System.Reflection;
using System.Runtime.InteropServices;
using TorchSharp;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>
/// The Debian 12 / Ubuntu 22.04 load fix for processes that no build prepared. TorchSharp 0.107's
/// <c>libLibTorchSharp.so</c> asks for <c>GLIBCXX_3.4.32</c> for a symbol it never calls, and those
/// systems' libstdc++ stops at 3.4.30. Builds and publishes fix the copy in their output folder
/// (<c>build/TorchSharpNativeFix.targets</c>, also in the MLNetCnn.Architectures package), but a
/// notebook or script (<c>#r "nuget: MLNetCnn.Estimators"</c>) loads TorchSharp straight from the NuGet
/// cache, where nothing may be changed. For that case only (TorchSharp.dll inside its package folder),
/// and only where the system libstdc++ lacks the version, <see cref="EnsureLoadable"/> copies the
/// library into a private temporary folder, marks that version need weak (the same change as the
/// build's), loads libtorch from the <c>libtorch-cpu-linux-x64</c> package and then the patched copy.
/// TorchSharp's own load by name then finds both already loaded. It runs when this assembly loads
/// (a module initializer), before any TorchSharp call of the library; elsewhere it does nothing and
/// loads nothing, so a serving process never loads libtorch through it.
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
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or DllNotFoundException or BadImageFormatException)
                {
                    _outcome = $"not applied: {e.GetType().Name}: {e.Message}";
                }
            }

            return _outcome.StartsWith("loaded", StringComparison.Ordinal);
        }
    }

    private static string Apply()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            return "not needed: not linux-x64";
        }

        // TorchSharp.dll in its package folder: <packages>/torchsharp/<version>/lib/<tfm>/TorchSharp.dll.
        string assemblyDirectory = Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? string.Empty;
        string package = Path.GetFullPath(Path.Combine(assemblyDirectory, "..", ".."));
        string stock = Path.Combine(package, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (assemblyDirectory.Length == 0 || !File.Exists(Path.Combine(package, "torchsharp.nuspec")) || !File.Exists(stock))
        {
            return "not needed: TorchSharp runs from a build output, which the build fixed";
        }

        string? libStdCxx = ElfVersionPatch.SystemLibStdCxx;
        HashSet<string> missing = libStdCxx is null ? [] : ElfVersionPatch.MissingFrom(libStdCxx, WeakVersions);
        byte[] elf = File.ReadAllBytes(stock);
        if (missing.Count == 0 || ElfVersionPatch.MarkWeak(elf, missing) == 0)
        {
            return "not needed: the system libstdc++ has what libLibTorchSharp.so asks for";
        }

        string? libtorch = FindLibTorch(Path.GetFullPath(Path.Combine(package, "..", "..")));
        if (libtorch is null)
        {
            return "not applied: no libtorch-cpu-linux-x64 package beside TorchSharp (TorchSharp reports it)";
        }

        // A folder only this user can write, removed once loaded: the mapping outlives the file.
        var folder = Directory.CreateTempSubdirectory("mlnetcnn-torchsharp-");
        string patched = Path.Combine(folder.FullName, "libLibTorchSharp.so");
        try
        {
            File.WriteAllBytes(patched, elf);
            NativeLibrary.Load(libtorch);
            NativeLibrary.Load(patched);
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
