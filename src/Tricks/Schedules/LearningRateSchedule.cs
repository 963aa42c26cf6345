namespace MLNetCnn.Tricks.Schedules;

/// <summary>
/// A learning-rate schedule: a pure function of the optimizer step, so a resumed run gets the same
/// rate as an uninterrupted one. Implementations are immutable.
/// </summary>
public abstract record LearningRateSchedule
{
    /// <summary>The learning rate at <paramref name="step"/> (0-based) of <paramref name="totalSteps"/>.</summary>
    /// <param name="baseRate">The peak learning rate the schedule scales.</param>
    /// <param name="step">Optimizer step, 0-based.</param>
    /// <param name="totalSteps">Steps in the whole run.</param>
    public abstract double Rate(double baseRate, long step, long totalSteps);
}

/// <summary>The same rate at every step.</summary>
public sealed record ConstantSchedule : LearningRateSchedule
{
    /// <inheritdoc/>
    public override double Rate(double baseRate, long step, long totalSteps) => baseRate;
}

/// <summary>
/// Cosine decay from the base rate to <see cref="FinalRate"/> over the run (Loshchilov and Hutter, SGDR;
/// Bag of Tricks section 5.1), after an optional linear warmup of <see cref="WarmupSteps"/> steps.
/// </summary>
public sealed record CosineSchedule : LearningRateSchedule
{
    /// <summary>Steps of linear warmup from 0 (Bag of Tricks section 3.1).</summary>
    public long WarmupSteps { get; init; }

    /// <summary>Rate reached at the last step.</summary>
    public double FinalRate { get; init; }

    /// <inheritdoc/>
    public override double Rate(double baseRate, long step, long totalSteps)
    {
        if (step < WarmupSteps)
        {
            return baseRate * (step + 1) / WarmupSteps;
        }

        long decaySteps = Math.Max(1, totalSteps - WarmupSteps);
        double progress = Math.Clamp((double)(step - WarmupSteps) / decaySteps, 0, 1);
        return FinalRate + ((baseRate - FinalRate) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}
