using System.Runtime.InteropServices;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>
/// libtorch 2.10's oneDNN JIT kernels compute wrong convolutions on our build machines (AMD EPYC
/// virtual CPUs) whenever a channel count is not a multiple of the vector width: with AVX-512 for
/// 8, 24 or 40 channels, with AVX and AVX2 for 12, 20, 28 or 36 channels (errors up to 100 % against
/// float64, and NaN), float32 and bfloat16 alike; input gradients of 1- to 6-channel convolutions are
/// wrong too. The SSE4.1 kernels are right for every width tested (1 to 64), so that is the default,
/// at roughly half the AVX2 speed. Models whose channel counts are all multiples of 8 (16 for AVX-512)
/// can opt into the faster kernels with <c>ONEDNN_MAX_CPU_ISA=AVX2</c> or <c>AVX512_CORE_BF16</c>.
/// oneDNN reads <c>ONEDNN_MAX_CPU_ISA</c> once, at its first use (which plain tensor operations such as
/// <c>grid_sample</c> can trigger), so this runs when any assembly of this library loads (a module
/// initializer in each) and again before any model is built. A value the user set (in the environment
/// or before this runs) wins, so <c>ONEDNN_MAX_CPU_ISA=DEFAULT</c> restores the full instruction set and
/// <c>AVX512_CORE_BF16</c> enables fast bfloat16 training.
/// </summary>
public static class OneDnnIsa
{
    private static int _applied;

    /// <summary>The instruction set the library asks for when the user has not chosen one.</summary>
    public const string Default = "SSE41";

    /// <summary>Limits oneDNN to <see cref="Default"/> unless <c>ONEDNN_MAX_CPU_ISA</c> is already set. Idempotent.</summary>
    public static void EnsureSafeDefault()
    {
        if (Interlocked.Exchange(ref _applied, 1) == 1 || !OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA") is not null)
        {
            return;
        }

        _ = setenv("ONEDNN_MAX_CPU_ISA", Default, 0);
    }

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int setenv(string name, string value, int overwrite);
}
