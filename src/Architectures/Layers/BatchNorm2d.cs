using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// Batch normalization over a 4-d input, state-dict compatible with <c>torch.nn.BatchNorm2d</c>
/// (weight, bias, running_mean, running_var, num_batches_tracked).
/// </summary>
/// <remarks>
/// The library's own version of TorchSharp's <c>BatchNorm2d</c>, because TorchSharp's forward
/// increments <c>num_batches_tracked</c> with a temporary <see cref="Scalar"/>, which a garbage
/// collection on another thread can free during the call (see <see cref="Scalars"/>). The
/// arithmetic is TorchSharp's: <c>functional.batch_norm</c> with the same arguments.
/// A global using alias makes <c>BatchNorm2d</c> mean this class throughout the library.
/// </remarks>
public sealed class BatchNorm2d : TorchSharp.Modules.BatchNorm
{
    /// <summary>Creates the layer with affine parameters and tracked running statistics.</summary>
    /// <param name="numFeatures">Channels of the input.</param>
    /// <param name="eps">Added to the variance for stability.</param>
    /// <param name="momentum">Weight of the newest batch in the running statistics.</param>
    public BatchNorm2d(long numFeatures, double eps = 1e-5, double momentum = 0.1)
        : base(numFeatures, eps, momentum, affine: true, track_running_stats: true, device: null, dtype: null, name: nameof(BatchNorm2d))
    {
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        ValidateInputDimensions(input);
        if (training && input.shape[0] * input.shape[2] * input.shape[3] == 1)
        {
            // PyTorch's Python module raises here; libtorch's batch_norm goes on and writes NaN into running_var.
            throw new ArgumentException($"BatchNorm2d in training mode needs more than one value per channel; got an input of shape [{string.Join(", ", input.shape)}] (a batch of one image whose feature map is 1 x 1 here). Use batches of two or more images, or a larger input.", nameof(input));
        }

        double factor = momentum ?? 0.0;
        if (training && track_running_stats && num_batches_tracked is not null)
        {
            num_batches_tracked.add_(Scalars.One, Scalars.One);
            if (momentum is null)
            {
                factor = 1.0 / num_batches_tracked.item<long>();
            }
        }

        bool batchStatistics = training || (running_mean is null && running_var is null);
        bool passStatistics = !training || track_running_stats;
        return nn.functional.batch_norm(input, passStatistics ? running_mean : null, passStatistics ? running_var : null, weight, bias, batchStatistics, factor, eps);
    }

    /// <inheritdoc/>
    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.ndim != 4)
        {
            throw new ArgumentException($"BatchNorm2d expects a 4-d input [N, C, H, W]; got a {input.ndim}-d input of shape [{string.Join(", ", input.shape)}].", nameof(input));
        }
    }
}
