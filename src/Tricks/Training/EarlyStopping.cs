namespace MLNetCnn.Tricks.Training;

/// <summary>The validation metric early stopping watches.</summary>
public enum EarlyStoppingMetric
{
    /// <summary>Validation accuracy: higher is better.</summary>
    Accuracy,

    /// <summary>Validation cross-entropy: lower is better.</summary>
    Loss,
}

/// <summary>
/// When to stop training (the criteria of ML.NET's image trainer, <c>ImageClassificationTrainer.EarlyStopping</c>):
/// once the validation <see cref="Metric"/> has not improved by at least <see cref="MinDelta"/> over the best
/// epoch so far for <see cref="Patience"/> epochs in a row. The model then ends with the weights of that best
/// epoch, whether or not training stopped early.
/// </summary>
public sealed record EarlyStopping
{
    /// <summary>The metric watched.</summary>
    public EarlyStoppingMetric Metric { get; init; } = EarlyStoppingMetric.Accuracy;

    /// <summary>Epochs without improvement before training stops (ML.NET's default: 20).</summary>
    public int Patience { get; init; } = 20;

    /// <summary>The smallest change that counts as an improvement (ML.NET's default: 0.01).</summary>
    public double MinDelta { get; init; } = 0.01;

    /// <summary>Throws when a value is out of range.</summary>
    public EarlyStopping Validate()
    {
        if (Patience < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Patience), Patience, "Patience must be at least 1 epoch.");
        }

        if (!(MinDelta >= 0) || !double.IsFinite(MinDelta))
        {
            throw new ArgumentOutOfRangeException(nameof(MinDelta), MinDelta, "MinDelta must be non-negative and finite.");
        }

        return this;
    }

    /// <summary>The watched value of an epoch, signed so that larger is better.</summary>
    internal double Score(EpochMetrics metrics) => Metric == EarlyStoppingMetric.Accuracy
        ? metrics.ValidationAccuracy ?? double.NaN
        : -(metrics.ValidationLoss ?? double.NaN);

    /// <summary>"validation accuracy 0.8731" or "validation loss 0.4120".</summary>
    internal string Describe(EpochMetrics metrics) => FormattableString.Invariant(
        $"validation {(Metric == EarlyStoppingMetric.Accuracy ? "accuracy" : "loss")} {(Metric == EarlyStoppingMetric.Accuracy ? metrics.ValidationAccuracy : metrics.ValidationLoss):F4}");
}
