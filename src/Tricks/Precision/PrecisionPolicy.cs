using System.Globalization;
using MLNetCnn.Architectures.Runtime;
using TorchSharp;

namespace MLNetCnn.Tricks.Precision;

/// <summary>What a requested <see cref="TrainingPrecision"/> becomes on a device, and why.</summary>
/// <param name="Requested">What the options asked for.</param>
/// <param name="Effective">What training runs in (never <see cref="TrainingPrecision.Auto"/>).</param>
/// <param name="Reason">Why, in words.</param>
/// <param name="Warning">Set when the request is honoured but costs speed on this host (explicit bfloat16 without native support).</param>
public sealed record PrecisionChoice(TrainingPrecision Requested, TrainingPrecision Effective, string Reason, string? Warning)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Effective}{(Requested == TrainingPrecision.Auto ? " (Auto)" : string.Empty)}: {Reason}";
}

/// <summary>
/// Decides the training precision so that it never slows training down by default: <see cref="TrainingPrecision.Auto"/>
/// takes bfloat16 only where the CPU computes it natively and its kernels passed the probe
/// (<see cref="KernelSelection"/>), float16 on CUDA, float32 elsewhere. An explicit bfloat16 on a CPU without
/// native support is honoured with a warning naming the slowdown the probe measured on this host; on a CPU
/// whose native bfloat16 convolutions the probe found wrong it is refused.
/// </summary>
public static class PrecisionPolicy
{
    /// <summary>Resolves <paramref name="requested"/> for <paramref name="device"/> on this host.</summary>
    /// <exception cref="NotSupportedException">float16 on the CPU, or bfloat16 on a CPU whose bfloat16 convolutions are wrong.</exception>
    public static PrecisionChoice Resolve(TrainingPrecision requested, DeviceType device) => Resolve(requested, device, KernelSelection.Current);

    /// <summary>Resolves <paramref name="requested"/> for <paramref name="device"/> given the host's kernel verdict.</summary>
    /// <exception cref="NotSupportedException">float16 on the CPU, or bfloat16 on a CPU whose bfloat16 convolutions are wrong.</exception>
    public static PrecisionChoice Resolve(TrainingPrecision requested, DeviceType device, KernelChoice kernels)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        bool cuda = device == DeviceType.CUDA;
        switch (requested)
        {
            case TrainingPrecision.Auto when cuda:
                return new(requested, TrainingPrecision.Float16, "CUDA computes float16 natively (float32 master weights, dynamic loss scaling)", null);
            case TrainingPrecision.Auto:
                return kernels.BFloat16 == BFloat16Kernels.Native
                    ? new(requested, TrainingPrecision.BFloat16, $"this CPU computes bfloat16 natively ({kernels.BFloat16Reason})", null)
                    : new(requested, TrainingPrecision.Float32, kernels.BFloat16Reason.Length > 0 ? kernels.BFloat16Reason : "no native bfloat16 known on this CPU", null);
            case TrainingPrecision.Float16 when !cuda:
                throw new NotSupportedException("Float16 training needs a CUDA device; on the CPU use TrainingPrecision.Auto (bfloat16 where the CPU has it natively) or BFloat16.");
            case TrainingPrecision.BFloat16 when !cuda && kernels.BFloat16 == BFloat16Kernels.Faulty:
                throw new NotSupportedException($"BFloat16 training is refused on this CPU: {kernels.BFloat16Reason}. Use TrainingPrecision.Auto or Float32.");
            case TrainingPrecision.BFloat16 when !cuda && kernels.BFloat16 == BFloat16Kernels.NotNative:
                string cost = kernels.BFloat16Slowdown is { } slowdown
                    ? string.Create(CultureInfo.InvariantCulture, $"the kernel probe measured a bfloat16 convolution step {slowdown:F1}x slower than float32 on this host")
                    : "bfloat16 convolutions run in oneDNN's slow reference code here";
                return new(requested, TrainingPrecision.BFloat16, "requested", $"BFloat16 was requested on a CPU without native bfloat16 ({kernels.BFloat16Reason}): {cost}. TrainingPrecision.Auto would train in float32.");
            default:
                return new(requested, requested, "requested", null);
        }
    }
}
