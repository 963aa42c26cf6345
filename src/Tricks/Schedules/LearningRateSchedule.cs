namespace MLNetCnn.Tricks.Schedules;

/// <summary>
/// A learning-rate schedule: a pure function of the optimizer step, so a resumed run gets the same
/// rate as an uninterrupted one. Every schedule can start with a linear warmup from 0 (Bag of Tricks
/// section 3.1) of <see cref="WarmupSteps"/> steps plus <see cref="WarmupEpochs"/> epochs; its own
/// shape then runs over the remaining steps. Implementations are immutable.
/// </summary>
public abstract record LearningRateSchedule
{
    /// <summary>Steps of linear warmup from 0 to the base rate.</summary>
    public long WarmupSteps { get; init; }

    /// <summary>Epochs of linear warmup (added to <see cref="WarmupSteps"/>; may be fractional).</summary>
    public double WarmupEpochs { get; init; }

    /// <summary>The learning rate at <paramref name="step"/> (0-based) of <paramref name="totalSteps"/>.</summary>
    /// <param name="baseRate">The peak learning rate the schedule scales.</param>
    /// <param name="step">Optimizer step, 0-based.</param>
    /// <param name="totalSteps">Steps in the whole run.</param>
    /// <param name="stepsPerEpoch">Steps in one epoch (needed only when <see cref="WarmupEpochs"/> is set).</param>
    public double Rate(double baseRate, long step, long totalSteps, long stepsPerEpoch)
    {
        CheckWarmup();
        if (WarmupEpochs > 0 && stepsPerEpoch <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(stepsPerEpoch), stepsPerEpoch, "WarmupEpochs needs the number of steps per epoch.");
        }

        long warmup = WarmupStepCount(stepsPerEpoch);
        if (step < warmup)
        {
            return baseRate * (step + 1) / warmup;
        }

        long decaySteps = Math.Max(1, totalSteps - warmup);
        double progress = Math.Clamp((double)(step - warmup) / decaySteps, 0, 1);
        return Decay(baseRate, progress);
    }

    /// <summary>The steps of warmup in a run of <paramref name="stepsPerEpoch"/> steps an epoch.</summary>
    public long WarmupStepCount(long stepsPerEpoch) => WarmupSteps + (long)Math.Round(WarmupEpochs * stepsPerEpoch);

    /// <summary>The learning rate at <paramref name="step"/> for a schedule whose warmup is given in steps only.</summary>
    public double Rate(double baseRate, long step, long totalSteps) => Rate(baseRate, step, totalSteps, stepsPerEpoch: 0);

    /// <summary>The rate after warmup, at <paramref name="progress"/> (0 at the first step after warmup, 1 at the end).</summary>
    protected abstract double Decay(double baseRate, double progress);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/>, naming the setting and its value, for a setting that would give a negative or non-finite rate.</summary>
    public virtual void Validate() => CheckWarmup();

    private void CheckWarmup()
    {
        if (WarmupSteps < 0 || WarmupEpochs < 0 || !double.IsFinite(WarmupEpochs))
        {
            throw new ArgumentOutOfRangeException(nameof(WarmupSteps), $"Warmup must be non-negative; found {WarmupSteps} steps and {WarmupEpochs} epochs.");
        }
    }
}

/// <summary>The same rate at every step (after any warmup).</summary>
public sealed record ConstantSchedule : LearningRateSchedule
{
    /// <inheritdoc/>
    protected override double Decay(double baseRate, double progress) => baseRate;
}

/// <summary>
/// Cosine decay from the base rate to <see cref="FinalRate"/> over the run (Loshchilov and Hutter, SGDR;
/// Bag of Tricks section 5.1): <c>final + (base - final) * (1 + cos(pi * progress)) / 2</c>.
/// </summary>
public sealed record CosineSchedule : LearningRateSchedule
{
    /// <summary>Rate reached at the last step.</summary>
    public double FinalRate { get; init; }

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (!(FinalRate >= 0) || !double.IsFinite(FinalRate))
        {
            throw new ArgumentOutOfRangeException(nameof(FinalRate), FinalRate, "The cosine schedule's final rate must be non-negative and finite.");
        }
    }

    /// <inheritdoc/>
    protected override double Decay(double baseRate, double progress) =>
        FinalRate + ((baseRate - FinalRate) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
}

/// <summary>
/// Step decay, the Bag of Tricks baseline: the rate is multiplied by <see cref="Factor"/> at each
/// milestone. Milestones are fractions of the run after warmup (the paper's epochs 30, 60 and 90 of
/// 120 are 0.25, 0.5 and 0.75, the default).
/// </summary>
public sealed record StepSchedule : LearningRateSchedule
{
    /// <summary>Fractions of the run, in (0, 1), at which the rate drops.</summary>
    public IReadOnlyList<double> Milestones { get; init; } = new[] { 0.25, 0.5, 0.75 };

    /// <summary>Multiplier applied at each milestone.</summary>
    public double Factor { get; init; } = 0.1;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (!(Factor > 0) || !double.IsFinite(Factor))
        {
            throw new ArgumentOutOfRangeException(nameof(Factor), Factor, "The step schedule's factor must be positive and finite (0.1 divides the rate by 10 at each milestone).");
        }

        if (Milestones is null || Milestones.Any(m => !(m is >= 0 and <= 1)))
        {
            throw new ArgumentOutOfRangeException(nameof(Milestones), $"The step schedule's milestones are fractions of the run in [0, 1]; found [{string.Join(", ", Milestones ?? [])}].");
        }
    }

    /// <inheritdoc/>
    protected override double Decay(double baseRate, double progress)
    {
        int passed = Milestones.Count(m => progress >= m);
        return baseRate * Math.Pow(Factor, passed);
    }
}

/// <summary>Learning-rate scaling rules.</summary>
public static class LearningRateScaling
{
    /// <summary>
    /// Linear scaling (Goyal et al.; Bag of Tricks section 3.1): <c>baseRate * batchSize / referenceBatchSize</c>,
    /// so a rate tuned for one batch size carries to another. The paper's rule is 0.1 at batch 256.
    /// </summary>
    public static double Linear(double baseRate, int batchSize, int referenceBatchSize = 256)
    {
        if (batchSize < 1 || referenceBatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(batchSize), $"Batch sizes must be positive; found {batchSize} and reference {referenceBatchSize}.");
        }

        return baseRate * batchSize / referenceBatchSize;
    }
}
