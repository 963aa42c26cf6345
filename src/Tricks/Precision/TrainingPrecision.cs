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
    /// bfloat16 compute with float32 master weights. Fast only on CPUs that compute bfloat16 natively
    /// (AVX512_BF16 or AMX); elsewhere oneDNN falls back to reference code, many times slower than float32
    /// (<see cref="PrecisionPolicy"/> warns, naming the cost measured on the host). bfloat16 has float32's
    /// range, so no loss scaling.
    /// </summary>
    BFloat16,

    /// <summary>float16 compute with float32 master weights and dynamic loss scaling: the CUDA mode.</summary>
    Float16,

    /// <summary>
    /// The fastest precision the device runs natively: float16 (with loss scaling) on CUDA, bfloat16 on a
    /// CPU with native bfloat16 whose kernels passed the kernel probe, float32 elsewhere. The default.
    /// </summary>
    Auto,
}
