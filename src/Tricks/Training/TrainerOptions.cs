using MLNetCnn.Tricks.Schedules;

namespace MLNetCnn.Tricks.Training;

/// <summary>Where training runs.</summary>
public enum ComputeDevice
{
    /// <summary>CUDA when a GPU and a CUDA libtorch are present, otherwise CPU.</summary>
    Auto,

    /// <summary>Always the CPU.</summary>
    Cpu,

    /// <summary>The first CUDA GPU; fails with a clear error when none is usable.</summary>
    Cuda,
}

/// <summary>Settings of the training procedure (SGD with momentum on cross-entropy).</summary>
public sealed record TrainerOptions
{
    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Images per optimizer step.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Peak learning rate (the schedule scales it per step).</summary>
    public double LearningRate { get; init; } = 0.05;

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>Use Nesterov momentum.</summary>
    public bool Nesterov { get; init; }

    /// <summary>L2 weight decay on all parameters.</summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>Learning rate as a function of the step.</summary>
    public LearningRateSchedule Schedule { get; init; } = new ConstantSchedule();

    /// <summary>Seed for weight initialization and shuffling.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Device to train on.</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Auto;

    /// <summary>Throws when a value is out of range.</summary>
    public TrainerOptions Validate()
    {
        if (Epochs < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 1.");
        }

        if (BatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "Batch size must be at least 1.");
        }

        if (!(LearningRate > 0) || !double.IsFinite(LearningRate))
        {
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "Learning rate must be positive and finite.");
        }

        if (Momentum is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Momentum), Momentum, "Momentum must be in [0, 1).");
        }

        if (WeightDecay < 0 || !double.IsFinite(WeightDecay))
        {
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "Weight decay must be non-negative and finite.");
        }

        return this;
    }
}

/// <summary>What one epoch did.</summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="Epochs">Total epochs of the run.</param>
/// <param name="TrainLoss">Mean cross-entropy over the epoch's training batches.</param>
/// <param name="TrainAccuracy">Fraction of training images classified correctly during the epoch.</param>
/// <param name="ValidationLoss">Mean cross-entropy on the validation set, when one was given.</param>
/// <param name="ValidationAccuracy">Accuracy on the validation set, when one was given.</param>
/// <param name="LearningRate">Learning rate at the epoch's last step.</param>
/// <param name="Elapsed">Wall time of the epoch's training steps (validation excluded).</param>
/// <param name="ImagesPerSecond">Training throughput.</param>
public sealed record EpochMetrics(int Epoch, int Epochs, double TrainLoss, double TrainAccuracy, double? ValidationLoss, double? ValidationAccuracy, double LearningRate, TimeSpan Elapsed, double ImagesPerSecond)
{
    /// <inheritdoc/>
    public override string ToString()
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        string validation = ValidationLoss is { } vl ? string.Format(c, ", val loss {0:F4}, val acc {1:P2}", vl, ValidationAccuracy) : string.Empty;
        return string.Format(c, "epoch {0}/{1}: loss {2:F4}, acc {3:P2}{4}, lr {5:G3}, {6:F1}s, {7:F0} img/s", Epoch, Epochs, TrainLoss, TrainAccuracy, validation, LearningRate, Elapsed.TotalSeconds, ImagesPerSecond);
    }
}

/// <summary>Thrown when the loss becomes NaN or infinite.</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(int epoch, long step, double loss)
        : base($"Training diverged at epoch {epoch}, step {step}: loss is {loss}. Lower the learning rate or check the input data.")
    {
        Epoch = epoch;
        Step = step;
    }

    /// <summary>1-based epoch of the bad step.</summary>
    public int Epoch { get; }

    /// <summary>0-based global step of the bad step.</summary>
    public long Step { get; }
}
