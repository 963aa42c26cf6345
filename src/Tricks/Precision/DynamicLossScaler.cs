namespace MLNetCnn.Tricks.Precision;

/// <summary>
/// Dynamic loss scaling for float16 training (Micikevicius et al.): the loss is multiplied by
/// <see cref="Scale"/> before backward so small gradients survive float16; a step whose gradients
/// overflow is skipped and the scale halved; after <see cref="GrowthInterval"/> good steps in a row
/// the scale doubles.
/// </summary>
public sealed class DynamicLossScaler
{
    private int _goodSteps;

    /// <summary>Creates a scaler.</summary>
    public DynamicLossScaler(double initialScale = 65536, int growthInterval = 2000, double minimumScale = 1)
    {
        if (!(initialScale > 0) || growthInterval < 1 || !(minimumScale > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(initialScale), "Scale, growth interval and minimum scale must be positive.");
        }

        Scale = initialScale;
        GrowthInterval = growthInterval;
        MinimumScale = minimumScale;
    }

    /// <summary>The current loss scale.</summary>
    public double Scale { get; private set; }

    /// <summary>Good steps in a row before the scale doubles.</summary>
    public int GrowthInterval { get; }

    /// <summary>The scale never drops below this; overflowing at it means the training diverged.</summary>
    public double MinimumScale { get; }

    /// <summary>Steps skipped because of overflow so far.</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>
    /// Records the outcome of a step: true when its gradients were finite (apply it), false when they
    /// overflowed (skip it; the scale is halved). Returns whether to apply the step.
    /// </summary>
    /// <exception cref="InvalidOperationException">Gradients overflow even at <see cref="MinimumScale"/>.</exception>
    public bool Update(bool gradientsFinite)
    {
        if (gradientsFinite)
        {
            if (++_goodSteps >= GrowthInterval)
            {
                Scale *= 2;
                _goodSteps = 0;
            }

            return true;
        }

        if (Scale <= MinimumScale)
        {
            throw new InvalidOperationException($"Gradients overflow even at the minimum loss scale {MinimumScale}.");
        }

        Scale = Math.Max(MinimumScale, Scale / 2);
        _goodSteps = 0;
        SkippedSteps++;
        return false;
    }
}
