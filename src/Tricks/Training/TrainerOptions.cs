using MLNetCnn.Tricks.Augmentation;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Distillation;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Regularization;
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

/// <summary>
/// Settings of the training procedure: SGD with momentum on a soft-target cross-entropy, plus every
/// trick of Bag of Tricks as an independent switch. Per step they apply in this order:
/// augmentation (raw pixels) -> targets (one-hot, label smoothing) -> mixup (images and targets) ->
/// teacher soft targets (on the mixed images) -> forward at <see cref="Precision"/> -> loss (main head,
/// distillation, auxiliary heads) -> backward -> non-finite check -> SGD step (weight decay per group)
/// on float32 master weights. Zero gamma applies once, before the first step.
/// </summary>
public sealed record TrainerOptions
{
    /// <summary>Passes over the training data (under <see cref="TimeLimit"/>, the most the run may make).</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>
    /// Train for about this long, counted from the start of <c>Fit</c>; null (the default) trains <see cref="Epochs"/>
    /// epochs. The first epoch is timed, then after every epoch the trainer plans the epochs that fit the time left (at
    /// the slower of the mean epoch so far, validation and checkpoints included, and the slowest one), never more than
    /// <see cref="Epochs"/>, and the learning-rate <see cref="Schedule"/> spans the planned epochs, so a cosine decay
    /// ends at its final rate when the time is up rather than being cut off. The log says the plan whenever it changes,
    /// and <see cref="EpochMetrics.Epochs"/> records it. A soft limit: at least one epoch always runs, and an epoch
    /// slower than every one before it can end the run past the limit by the difference. With <see cref="Resume"/>, the
    /// limit counts this process's time, and the schedule continues the checkpoint's plan until an epoch is timed.
    /// </summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>Images per optimizer step.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Peak learning rate (the schedule scales it per step).</summary>
    public double LearningRate { get; init; } = 0.05;

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>Use Nesterov momentum.</summary>
    public bool Nesterov { get; init; }

    /// <summary>L2 weight decay (on all parameters, or on conv and linear weights only with <see cref="NoBiasDecay"/>).</summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>No weight decay on biases and batch-norm gamma and beta (the 1-dimensional parameters).</summary>
    public bool NoBiasDecay { get; init; }

    /// <summary>Start the last batch norm of every residual block at gamma = 0.</summary>
    public bool ZeroGamma { get; init; }

    /// <summary>Label smoothing epsilon in [0, 1) (Inception v3: 0.1).</summary>
    public double LabelSmoothing { get; init; }

    /// <summary>Per-batch image augmentation on raw pixels (random resized crop, flip, translation, colour, PCA lighting, random erasing), or null for none.</summary>
    public AugmentationOptions? Augmentation { get; init; }

    /// <summary>Mixup, or null for none.</summary>
    public MixupOptions? Mixup { get; init; }

    /// <summary>Knowledge distillation, or null for none.</summary>
    public DistillationOptions? Distillation { get; init; }

    /// <summary>
    /// Arithmetic of the forward and backward passes: <see cref="TrainingPrecision.Auto"/> (the default) takes the
    /// fastest precision the device runs natively (see <see cref="PrecisionPolicy"/>); float32, or bfloat16 /
    /// float16 with float32 master weights, on request.
    /// </summary>
    public TrainingPrecision Precision { get; init; } = TrainingPrecision.Auto;

    /// <summary>Memory layout of activations and convolution weights in training (<see cref="TensorLayout.Auto"/>: channels-last on the CPU).</summary>
    public TensorLayout Layout { get; init; } = TensorLayout.Auto;

    /// <summary>Add the auxiliary classifiers' losses (GoogLeNet 0.3 per head, Inception v3 0.4) when the model has them.</summary>
    public bool AuxiliaryLoss { get; init; } = true;

    /// <summary>Folder for the end-of-epoch checkpoint (model, optimizer, step, history); null for none.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Continue from the checkpoint in <see cref="CheckpointDirectory"/> when one is there.</summary>
    public bool Resume { get; init; }

    /// <summary>
    /// Names (as in the model's <c>named_parameters</c>) of the parameters to hold fixed for the first
    /// <see cref="FreezeEpochs"/> epochs; null freezes the backbone, everything but the model's head
    /// (<c>ImageClassifier.HeadParameterNames</c>), so a pretrained backbone holds while a new classifier learns.
    /// They get no gradient, no update, no weight decay, and their batch norms keep their running
    /// statistics (eval mode) while frozen.
    /// </summary>
    public IReadOnlySet<string>? FrozenParameters { get; init; }

    /// <summary>Epochs during which <see cref="FrozenParameters"/> stay fixed (0: never frozen).</summary>
    public int FreezeEpochs { get; init; }

    /// <summary>Learning rate as a function of the step (default: cosine decay over the run, no warmup).</summary>
    public LearningRateSchedule Schedule { get; init; } = new CosineSchedule();

    /// <summary>
    /// Stop when the validation metric has not improved for a number of epochs, and end with the weights of the
    /// best epoch (named as ML.NET's image trainer names it); null trains every epoch and keeps the last weights.
    /// Needs validation data: a validation set given to <c>Fit</c>, or <see cref="ValidationFraction"/>.
    /// </summary>
    public EarlyStopping? EarlyStoppingCriteria { get; init; }

    /// <summary>
    /// When <c>Fit</c> gets no validation set: the share of the training images held out for validation, per
    /// class (stratified) and seeded by <see cref="Seed"/>; 0 holds out nothing.
    /// </summary>
    public double ValidationFraction { get; init; }

    /// <summary>Seed for weight initialization and shuffling.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Device to train on.</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Auto;

    /// <summary>
    /// How training data is held and read. The trainer uses <see cref="DataOptions.PrefetchBatches"/> and
    /// <see cref="DataOptions.Strict"/>; the rest chooses the source (<see cref="ImageSources.FromDecoder"/>,
    /// and the ML.NET estimator).
    /// </summary>
    public DataOptions Data { get; init; } = new();

    /// <summary>Throws when a value is out of range.</summary>
    public TrainerOptions Validate()
    {
        if (Epochs < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 1.");
        }

        if (TimeLimit is { } limit && limit <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(TimeLimit), limit, "TimeLimit must be positive (or null to train every epoch of Epochs).");
        }

        if (BatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "Batch size must be at least 1.");
        }

        if (!(LearningRate > 0) || !double.IsFinite(LearningRate))
        {
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "Learning rate must be positive and finite.");
        }

        if (Momentum is < 0 or >= 1 || double.IsNaN(Momentum))
        {
            throw new ArgumentOutOfRangeException(nameof(Momentum), Momentum, "Momentum must be in [0, 1).");
        }

        if (WeightDecay < 0 || !double.IsFinite(WeightDecay))
        {
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "Weight decay must be non-negative and finite.");
        }

        if (LabelSmoothing is < 0 or >= 1 || double.IsNaN(LabelSmoothing))
        {
            throw new ArgumentOutOfRangeException(nameof(LabelSmoothing), LabelSmoothing, "Label smoothing must be in [0, 1).");
        }

        (Schedule ?? throw new ArgumentNullException(nameof(Schedule), "A learning-rate schedule is required (the default is cosine decay).")).Validate();
        Augmentation?.Validate();
        Mixup?.Validate();
        Distillation?.Validate();
        if (FreezeEpochs < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(FreezeEpochs), FreezeEpochs, "FreezeEpochs must be non-negative.");
        }

        if (FreezeEpochs > 0 && FrozenParameters is { Count: 0 })
        {
            throw new ArgumentException("FreezeEpochs with an empty FrozenParameters set freezes nothing; leave it null to freeze the backbone.", nameof(FrozenParameters));
        }

        if (ValidationFraction is < 0 or >= 1 || double.IsNaN(ValidationFraction))
        {
            throw new ArgumentOutOfRangeException(nameof(ValidationFraction), ValidationFraction, "ValidationFraction must be in [0, 1).");
        }

        EarlyStoppingCriteria?.Validate();
        (Data ?? throw new ArgumentNullException(nameof(Data), "Data options are required (the default is new DataOptions()).")).Validate();
        if (Resume && CheckpointDirectory is null)
        {
            throw new ArgumentException("Resume needs a CheckpointDirectory.", nameof(Resume));
        }

        return this;
    }
}

/// <summary>What one epoch did.</summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="Epochs">Epochs of the run: <see cref="TrainerOptions.Epochs"/>, or under <see cref="TrainerOptions.TimeLimit"/> the plan made when this epoch ended.</param>
/// <param name="TrainLoss">Mean training loss over the epoch's batches (with every active trick's terms).</param>
/// <param name="TrainAccuracy">Fraction of training images classified correctly during the epoch.</param>
/// <param name="ValidationLoss">
/// Mean cross-entropy on the validation set, when one was given. Computed in the training's precision: under bfloat16
/// (precision Auto on a CPU with native bfloat16) the validation pass runs in bfloat16 too, so the trained model, which
/// is float32, scores the same images slightly differently (about 1 % of the loss was seen).
/// </param>
/// <param name="ValidationAccuracy">Accuracy on the validation set, when one was given, in the training's precision as above.</param>
/// <param name="LearningRate">Learning rate at the epoch's last step.</param>
/// <param name="Elapsed">Wall time of the epoch's training steps (validation excluded).</param>
/// <param name="ImagesPerSecond">Training throughput.</param>
public sealed record EpochMetrics(int Epoch, int Epochs, double TrainLoss, double TrainAccuracy, double? ValidationLoss, double? ValidationAccuracy, double LearningRate, TimeSpan Elapsed, double ImagesPerSecond)
{
    /// <summary>
    /// True for the epoch whose weights the model ended with when <see cref="TrainerOptions.EarlyStoppingCriteria"/>
    /// restored the best epoch (set in the returned history, after the epoch's callback ran).
    /// </summary>
    public bool Restored { get; init; }

    /// <summary>Training images left out of this epoch because they could not be read (see <see cref="DataOptions.Strict"/>; not kept in checkpoints).</summary>
    public int SkippedImages { get; init; }

    /// <summary>
    /// Wall time of the epoch's validation pass, when one ran (not kept in checkpoints). Reading the validation set
    /// happens once, before the first epoch, and is in neither figure.
    /// </summary>
    public TimeSpan? ValidationElapsed { get; init; }

    /// <inheritdoc/>
    public override string ToString()
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        string validation = ValidationLoss is { } vl ? string.Format(c, ", val loss {0:F4}, val acc {1:P2}", vl, ValidationAccuracy) : string.Empty;
        string skipped = SkippedImages > 0 ? string.Format(c, ", {0} unreadable image(s) skipped", SkippedImages) : string.Empty;
        string validationTime = ValidationElapsed is { } v ? string.Format(c, ", validation {0:F1}s", v.TotalSeconds) : string.Empty;

        // "0.4s, 149 img/s" read as the epoch's time when validation took the rest of it (an outside tester): say what each figure measures.
        return string.Format(c, "epoch {0}/{1}: loss {2:F4}, acc {3:P2}{4}, lr {5:G3}, training {6:F1}s at {7:F0} img/s{8}{9}", Epoch, Epochs, TrainLoss, TrainAccuracy, validation, LearningRate, Elapsed.TotalSeconds, ImagesPerSecond, validationTime, skipped);
    }
}

/// <summary>Thrown when the loss becomes NaN or infinite. The model keeps the weights of the last good step.</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(int epoch, long step, double loss)
        : base($"Training diverged at epoch {epoch}, step {step}: loss is {loss}. Lower the learning rate or check the input data.")
    {
        Epoch = epoch;
        Step = step;
    }

    /// <summary>Creates the exception for a model that stopped being finite although the loss of every step was.</summary>
    /// <param name="epoch">1-based epoch after which it was found.</param>
    /// <param name="step">Steps completed by then.</param>
    /// <param name="finding">What was found, e.g. "parameter 'fc.weight' holds NaN or infinite values".</param>
    public TrainingDivergedException(int epoch, long step, string finding)
        : base($"Training diverged by the end of epoch {epoch}, after {step} steps: {finding}. Lower the learning rate or check the input data.")
    {
        Epoch = epoch;
        Step = step;
    }

    /// <summary>1-based epoch of the bad step.</summary>
    public int Epoch { get; }

    /// <summary>0-based global step of the bad step.</summary>
    public long Step { get; }
}

/// <summary>Where training stands after one optimizer step.</summary>
/// <param name="Epoch">Current epoch (1-based).</param>
/// <param name="Epochs">Epochs in the run (under a time limit, the current plan).</param>
/// <param name="ImagesSeen">Images processed so far in this epoch.</param>
/// <param name="ImagesInEpoch">Images in one epoch.</param>
/// <param name="TrainLoss">Mean loss over this epoch's steps so far.</param>
/// <param name="ImagesPerSecond">Throughput so far in this epoch.</param>
/// <param name="EpochRemaining">Estimated time to the end of this epoch.</param>
public sealed record TrainingProgress(int Epoch, int Epochs, long ImagesSeen, int ImagesInEpoch, double TrainLoss, double ImagesPerSecond, TimeSpan EpochRemaining)
{
    /// <summary>
    /// Time left before <see cref="TrainerOptions.TimeLimit"/>, when one is set (the run ends about then, or earlier);
    /// null without a limit. Before the first epoch is timed, <see cref="Epochs"/> is the maximum, so a run time
    /// estimated from it alone can be far too long.
    /// </summary>
    public TimeSpan? TimeLimitRemaining { get; init; }
}
