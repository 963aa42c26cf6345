namespace MLNetCnn.Tricks.Precision;

/// <summary>
/// Arithmetic of the training step. In the low-precision modes convolutions and linear layers compute
/// in 16 bits from a 16-bit copy of their weights, while the optimizer updates float32 master weights;
/// batch normalization (its statistics and parameters) and the loss stay in float32.
/// </summary>
public enum TrainingPrecision
{
    /// <summary>Everything in float32.</summary>
    Float32,

    /// <summary>
    /// bfloat16 compute with float32 master weights: the CPU mode (fast on CPUs with AVX-512 BF16 or AMX when
    /// oneDNN may use them; see the README on <c>ONEDNN_MAX_CPU_ISA</c>). bfloat16 has float32's range, so no loss scaling.
    /// </summary>
    BFloat16,

    /// <summary>float16 compute with float32 master weights and dynamic loss scaling: the CUDA mode.</summary>
    Float16,
}
