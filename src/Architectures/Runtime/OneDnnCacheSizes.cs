using System.Globalization;
using System.Runtime.InteropServices;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>
/// Gives oneDNN usable cache sizes on a virtual CPU that hides them. libtorch 2.10's oneDNN (v3.7.1, Xbyak 7.05)
/// reads them from CPUID leaf 0x8000001D on AMD without checking that the leaf answers; where a hypervisor leaves
/// it empty (Linux then shows no <c>/sys/devices/system/cpu/cpu0/cache</c>), every level reads as 1 byte, and
/// oneDNN's blocking for 1-byte caches computes wrong convolutions at AVX and AVX2 and divides by zero (SIGFPE) at
/// AVX2 and AVX-512 (docs/kernels.md). This writes oneDNN's own fallback sizes (32 KiB, 512 KiB and 1 MiB a core,
/// what it assumes when it finds no cache levels at all) into its CPU description, in the process's copy of
/// <c>libtorch_cpu.so</c>, before the first convolution.
/// </summary>
/// <remarks>
/// The description is a C++ object inside libtorch without any interface, so its address and layout are known
/// only for builds listed here, identified by their GNU build ID; any other build is left alone. The kernel probe
/// tries an instruction set with this applied only in its child process, and keeps it only where every check
/// agrees with float64, so a wrong address or layout can cost a probe candidate but never a wrong result.
/// </remarks>
internal static class OneDnnCacheSizes
{
    /// <summary>Set to "1" in a probe child's environment: apply before the checks.</summary>
    public const string ChildVariable = "MLNETCNN_KERNEL_PROBE_CACHE_FIX";

    /// <summary>Where the CPU description lives in one build of <c>libtorch_cpu.so</c>.</summary>
    /// <param name="BuildId">The GNU build ID, hex.</param>
    /// <param name="CpuFunction">Offset of <c>dnnl::impl::cpu::x64::cpu()</c>, which constructs the description once and returns it.</param>
    /// <param name="CpuObject">Offset of the description (<c>cpu()::cpu_</c>, an <c>Xbyak::util::Cpu</c>).</param>
    /// <param name="SizesField">Offset in it of <c>dataCacheSize_[10]</c> (bytes per level, uint32).</param>
    /// <param name="SharingField">Offset of <c>coresSharingDataCache_[10]</c>.</param>
    /// <param name="LevelsField">Offset of <c>dataCacheLevels_</c>.</param>
    private sealed record Layout(string BuildId, long CpuFunction, long CpuObject, int SizesField, int SharingField, int LevelsField);

    /// <summary>libtorch-cpu-linux-x64 2.10.0 (the build TorchSharp 0.107 binds); offsets from its symbol table and the code of <c>get_per_core_cache_size</c>.</summary>
    private static readonly Layout[] Known =
    [
        new("e59a73f8ca02c19463bd923dc568ce765b2a1106", CpuFunction: 0xf89b1a0, CpuObject: 0x1585b180, SizesField: 0x1c, SharingField: 0x44, LevelsField: 0x6c),
    ];

    /// <summary>oneDNN's own sizes for a CPU that reports no cache levels (<c>get_per_core_cache_size</c>'s guesses), a core: L1, L2, L3.</summary>
    private static readonly uint[] Fallback = [32u << 10, 512u << 10, 1u << 20];

    /// <summary>A level smaller than this per core is not a real cache (the 1-byte levels of an empty CPUID leaf).</summary>
    private const uint SmallestRealCache = 1024;

    private static readonly object Gate = new();
    private static string? _outcome;

    /// <summary>What <see cref="Apply"/> did, in words, null before it ran.</summary>
    public static string? Outcome => _outcome;

    /// <summary>
    /// Loads libtorch (if not yet loaded) and, where oneDNN's CPU description holds a cache level under 1 KiB a core,
    /// writes oneDNN's fallback sizes into it. Idempotent; never throws.
    /// </summary>
    /// <returns>True when oneDNN's cache sizes are usable now: set by this call or an earlier one, or real ones read from the CPU.</returns>
    public static bool Apply()
    {
        lock (Gate)
        {
            if (_outcome is null)
            {
                try
                {
                    _outcome = Set();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException or TypeInitializationException or InvalidOperationException or FormatException)
                {
                    _outcome = $"not applied: {e.GetType().Name}: {e.Message}";
                }
            }

            return !_outcome.StartsWith("not applied", StringComparison.Ordinal);
        }
    }

    private static string Set()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            return "not applied: only linux-x64 builds of libtorch are known";
        }

        TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU); // loads libtorch, without creating a oneDNN primitive
        if (LoadedLibrary("libtorch_cpu.so") is not { } library)
        {
            return "not applied: libtorch_cpu.so is not loaded in this process";
        }

        string buildId = BuildId(library.Base) ?? "(none)";
        if (Known.FirstOrDefault(k => k.BuildId == buildId) is not { } layout)
        {
            return $"not applied: {library.Path} (build ID {buildId}) is not a build whose CPU description this library knows";
        }

        var cpu = Marshal.GetDelegateForFunctionPointer<CpuFunction>((nint)(library.Base + layout.CpuFunction))();
        if (cpu != (nint)(library.Base + layout.CpuObject))
        {
            return $"not applied: oneDNN's cpu() returned 0x{cpu:x}, not the description at 0x{library.Base + layout.CpuObject:x}";
        }

        int levels = Marshal.ReadInt32(cpu, layout.LevelsField);
        if (levels is < 0 or > 10)
        {
            return $"not applied: oneDNN's CPU description holds {levels} cache levels, which is not a layout this library knows";
        }

        var perCore = Enumerable.Range(0, levels)
            .Select(l => (uint)Marshal.ReadInt32(cpu, layout.SizesField + (4 * l)) / Math.Max(1u, (uint)Marshal.ReadInt32(cpu, layout.SharingField + (4 * l))))
            .ToList();
        string sizes = string.Join(", ", perCore.Select((s, l) => string.Create(CultureInfo.InvariantCulture, $"L{l + 1} {s:N0} B")));
        if (perCore.All(s => s >= SmallestRealCache))
        {
            return levels == 0 ? "not needed: oneDNN found no cache levels and uses its fallback sizes" : $"not needed: oneDNN read real cache sizes per core ({sizes})";
        }

        for (int l = 0; l < Fallback.Length; l++)
        {
            Marshal.WriteInt32(cpu, layout.SizesField + (4 * l), (int)Fallback[l]);
            Marshal.WriteInt32(cpu, layout.SharingField + (4 * l), 1);
        }

        Marshal.WriteInt32(cpu, layout.LevelsField, Fallback.Length);
        return $"set: the CPU reports caches of {sizes} a core (an empty CPUID cache leaf), so oneDNN was given its own fallback sizes (L1 32 KiB, L2 512 KiB, L3 1 MiB a core)";
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate nint CpuFunction();

    /// <summary>The load address and path of a loaded shared library, from <c>/proc/self/maps</c> (its mapping at file offset 0).</summary>
    private static (long Base, string Path)? LoadedLibrary(string fileName)
    {
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            // 7f0c1a000000-7f0c1a200000 r--p 00000000 08:01 1234   /path/libtorch_cpu.so
            var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 6 && parts[5].EndsWith("/" + fileName, StringComparison.Ordinal) && parts[2] == "00000000")
            {
                return (long.Parse(parts[0][..parts[0].IndexOf('-', StringComparison.Ordinal)], NumberStyles.HexNumber, CultureInfo.InvariantCulture), parts[5]);
            }
        }

        return null;
    }

    /// <summary>The GNU build ID of the ELF image mapped at <paramref name="imageBase"/>, read from its program headers in memory.</summary>
    private static string? BuildId(long imageBase)
    {
        nint image = (nint)imageBase;
        if (Marshal.ReadInt32(image) != 0x464C457F || Marshal.ReadByte(image, 4) != 2)
        {
            return null; // not a 64-bit ELF header
        }

        long programHeaders = Marshal.ReadInt64(image, 0x20);
        int entrySize = Marshal.ReadInt16(image, 0x36);
        int count = Marshal.ReadInt16(image, 0x38);
        for (int i = 0; i < count; i++)
        {
            nint header = (nint)(imageBase + programHeaders + ((long)i * entrySize));
            if (Marshal.ReadInt32(header) != 4)
            {
                continue; // not PT_NOTE
            }

            long note = imageBase + Marshal.ReadInt64(header, 0x10); // p_vaddr: the image's first segment is at address 0
            long end = note + Marshal.ReadInt64(header, 0x28);
            while (note + 12 <= end)
            {
                int nameSize = Marshal.ReadInt32((nint)note);
                int descriptionSize = Marshal.ReadInt32((nint)note, 4);
                int type = Marshal.ReadInt32((nint)note, 8);
                long description = note + 12 + ((nameSize + 3) & ~3);
                if (type == 3 && nameSize == 4 && Marshal.ReadInt32((nint)note, 12) == 0x00554E47) // NT_GNU_BUILD_ID, "GNU\0"
                {
                    var id = new byte[descriptionSize];
                    Marshal.Copy((nint)description, id, 0, descriptionSize);
                    return Convert.ToHexStringLower(id);
                }

                note = description + ((descriptionSize + 3) & ~3);
            }
        }

        return null;
    }
}
