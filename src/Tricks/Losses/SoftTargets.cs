using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Losses;

/// <summary>
/// Soft targets: every data-level trick (label smoothing, mixup, distillation) produces a probability
/// distribution per image, and one loss, <see cref="CrossEntropy"/>, consumes it.
/// </summary>
public static class SoftTargets
{
    /// <summary>
    /// One-hot targets with label smoothing (Inception v3 section 7): the true class gets
    /// <c>1 - smoothing + smoothing / K</c> and every other class <c>smoothing / K</c>.
    /// </summary>
    /// <param name="labels">Class indices [N], int64.</param>
    /// <param name="numClasses">K.</param>
    /// <param name="smoothing">Epsilon in [0, 1); 0 gives plain one-hot targets.</param>
    public static Tensor FromLabels(Tensor labels, int numClasses, double smoothing = 0)
    {
        if (smoothing is < 0 or >= 1 || double.IsNaN(smoothing))
        {
            throw new ArgumentOutOfRangeException(nameof(smoothing), smoothing, "Label smoothing must be in [0, 1).");
        }

        if (labels.dim() != 1)
        {
            throw new ArgumentException($"Labels must be a vector [N]; found shape [{string.Join(", ", labels.shape)}].", nameof(labels));
        }

        using var scope = NewDisposeScope();
        var targets = nn.functional.one_hot(labels.to(ScalarType.Int64), numClasses).to(ScalarType.Float32);
        if (smoothing > 0)
        {
            using var keep = (1 - smoothing).ToScalar(); // Scalars are held across the native calls: see Scalars
            using var spread = (smoothing / numClasses).ToScalar();
            targets = targets.mul(keep).add(spread, Scalars.One);
        }

        return targets.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Mean over the batch of <c>-sum_k targets_k * log_softmax(logits)_k</c>, computed in float32
    /// whatever the logits' precision. Equals <c>cross_entropy(logits, labels)</c> for one-hot targets.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets)
    {
        if (logits.dim() != 2 || !logits.shape.SequenceEqual(targets.shape))
        {
            throw new ArgumentException($"Logits and targets must both be [N, K]; found [{string.Join(", ", logits.shape)}] and [{string.Join(", ", targets.shape)}].");
        }

        using var scope = NewDisposeScope();
        var logProbabilities = nn.functional.log_softmax(logits.to(ScalarType.Float32), 1);
        return logProbabilities.mul(targets).sum(1).mean().neg().MoveToOuterDisposeScope();
    }
}
