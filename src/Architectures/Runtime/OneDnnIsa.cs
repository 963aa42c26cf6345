using System.Runtime.InteropServices;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>
/// libtorch 2.10's oneDNN AVX-512 kernels compute wrong float32 3x3 convolutions for some input widths
/// on our build machines (AMD EPYC virtual CPUs: 8, 24 and 40 input channels gave errors up to 2.8
/// against float64 and NaN gradients; 16, 32 and 48 were right). Limiting oneDNN to AVX2 fixes it.
/// oneDNN reads <c>ONEDNN_MAX_CPU_ISA</c> once, at its first use (which plain tensor operations such as
/// <c>grid_sample</c> can trigger), so this runs when any assembly of this library loads (a module
/// initializer in each) and again before any model is built. A value the user set (in the environment
/// or before this runs) wins, so <c>ONEDNN_MAX_CPU_ISA=DEFAULT</c> restores the full instruction set and
/// <c>AVX512_CORE_BF16</c> enables fast bfloat16 training.
/// </summary>
public static class OneDnnIsa
{
    private static int _applied;

    /// <summary>Limits oneDNN to AVX2 unless <c>ONEDNN_MAX_CPU_ISA</c> is already set. Idempotent.</summary>
    public static void EnsureSafeDefault()
    {
        if (Interlocked.Exchange(ref _applied, 1) == 1 || !OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA") is not null)
        {
            return;
        }

        _ = setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 0);
    }

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int setenv(string name, string value, int overwrite);
}
