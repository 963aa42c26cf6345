using System.Runtime.InteropServices;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>
/// glibc's allocator settings for training. libtorch allocates every activation and gradient afresh each
/// step (tens of megabytes at 224 pixels) through <c>malloc</c>; by default glibc returns freed memory at the
/// top of its heap to the system and serves blocks over a threshold with <c>mmap</c>, so the next step
/// page-faults and zeroes the same memory again. Keeping freed memory in the heap (<c>M_TRIM_THRESHOLD</c>
/// 2 GB, <c>M_MMAP_THRESHOLD</c> 1 GB) removed about 70 % of the system time and page
/// faults of ResNet-18 training at 224 on a 2-core host (docs/benchmarks.md). The cost: the process keeps
/// its peak heap after training instead of returning it. Applied once per process, on Linux with glibc,
/// unless <c>MLNETCNN_MALLOC_TUNING=off</c>.
/// </summary>
public static class NativeHeap
{
    private const int TrimThreshold = -1; // M_TRIM_THRESHOLD
    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD
    private static readonly object Gate = new();
    private static string? _state;

    /// <summary>What <see cref="KeepFreedMemory"/> did, in words (null before it ran).</summary>
    public static string? State => _state;

    /// <summary>Applies the settings (see the class) once per process; returns what was done. Never throws.</summary>
    public static string KeepFreedMemory()
    {
        lock (Gate)
        {
            if (_state is not null)
            {
                return _state;
            }

            if (!OperatingSystem.IsLinux())
            {
                return _state = "unchanged (not Linux)";
            }

            if (Environment.GetEnvironmentVariable("MLNETCNN_MALLOC_TUNING") is "off" or "0" or "false")
            {
                return _state = "unchanged (MLNETCNN_MALLOC_TUNING=off)";
            }

            try
            {
                bool trim = mallopt(TrimThreshold, int.MaxValue) == 1;
                bool mmap = mallopt(MmapThreshold, 1 << 30) == 1;
                return _state = trim && mmap
                    ? "glibc keeps freed memory for the next step (M_TRIM_THRESHOLD 2 GB, M_MMAP_THRESHOLD 1 GB)"
                    : $"glibc refused part of the settings (trim {trim}, mmap {mmap})";
            }
            catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
            {
                return _state = "unchanged (no glibc mallopt)";
            }
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int parameter, int value);
}
