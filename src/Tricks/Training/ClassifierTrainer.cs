using System.Collections.Concurrent;
using System.Diagnostics;
using MLNetCnn.Architectures.Runtime;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Tricks.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Training;

/// <summary>
/// Trains an <see cref="ImageClassifier"/> with SGD + momentum on a soft-target cross-entropy, with the
/// tricks of <see cref="TrainerOptions"/> composed per step (see there for the order). Batches of any
/// <see cref="IImageSource"/> (in memory or streamed) are read ahead on background threads into a
/// bounded queue; each step runs in its own dispose scope so memory stays flat.
/// </summary>
public sealed class ClassifierTrainer
{
    private readonly TrainerOptions _options;
    private readonly Action<EpochMetrics>? _onEpoch;
    private readonly Action<string>? _log;
    private readonly Action<TrainingProgress>? _onProgress;

    /// <summary>Creates a trainer.</summary>
    /// <param name="options">Procedure settings.</param>
    /// <param name="onEpoch">Called after every epoch with its metrics.</param>
    /// <param name="log">Receives progress lines (epoch summaries and in-epoch progress).</param>
    /// <param name="onProgress">Called after every optimizer step (for a progress bar).</param>
    public ClassifierTrainer(TrainerOptions options, Action<EpochMetrics>? onEpoch = null, Action<string>? log = null, Action<TrainingProgress>? onProgress = null)
    {
        _options = options.Validate();
        _onEpoch = onEpoch;
        _log = log;
        _onProgress = onProgress;
    }

    /// <summary>
    /// Trains <paramref name="model"/> in place and returns the per-epoch history (including epochs
    /// restored from a checkpoint). The model ends in eval mode, in float32, on the CPU; if training
    /// throws, it keeps the weights of the last good step. The sources stay the caller's to dispose.
    /// </summary>
    /// <remarks>Runs in one process take turns (<see cref="GlobalGenerator"/>): every step seeds libtorch's process-wide generator.</remarks>
    public IReadOnlyList<EpochMetrics> Fit(ImageClassifier model, IImageSource train, IImageSource? validation = null, CancellationToken cancellationToken = default)
    {
        using var generator = GlobalGenerator.Take(cancellationToken, _log);
        var clock = Stopwatch.StartNew(); // TimeLimit counts from here (after the wait for another run's turn)
        CheckShape(model, train, "training");
        bool validationGiven = validation is not null;
        if (validation is null && _options.ValidationFraction > 0)
        {
            (train, validation) = train.StratifiedSplit(_options.ValidationFraction, _options.Seed);
            if (validation.Count == 0)
            {
                // A class gives validation an image only when it has two or more; "The validation data has no images" did not say why.
                throw new ArgumentException(FormattableString.Invariant($"ValidationFraction {_options.ValidationFraction} (the estimator's ValidationSetFraction) held out no image: every class of the {train.Count} training images has a single image, and a class gives validation one only when it has two or more. Add images, pass a validation set, or set the fraction to 0."));
            }

            _log?.Invoke(FormattableString.Invariant($"held out {validation.Count} of {train.Count + validation.Count} images for validation ({StratifiedSplits.Describe(_options.ValidationFraction)})"));
        }

        if (validation is not null)
        {
            CheckShape(model, validation, "validation");
        }

        if (_options.EarlyStoppingCriteria is not null && validation is null)
        {
            throw new ArgumentException("EarlyStoppingCriteria needs validation data: pass a validation set, or set ValidationFraction to hold out part of the training images.");
        }

        // The input-size check 'summary' makes: a layer that cannot run at this size is an InputTooSmallException now,
        // not a libtorch error mid-step. The normalization in front changes no shape; the network's own layer names
        // make the message the one 'summary' prints.
        Architectures.Cost.ModelCost.Measure(model is NormalizedClassifier normalized ? normalized.Network : model);

        if (_options.Distillation is { Teacher: null } && train.TeacherLogits is null)
        {
            throw new ArgumentException("Distillation needs a teacher: set DistillationOptions.Teacher, or give training data that carries teacher logits (a soft-target column).");
        }

        if (_options.CheckpointDirectory is { } checkpoints)
        {
            Checkpoint.CheckWritable(checkpoints);
        }

        var device = Devices.Resolve(_options.Device);
        var precision = Precision.PrecisionPolicy.Resolve(_options.Precision, device.type);
        var layout = TensorLayouts.Resolve(_options.Layout, device.type, precision.Effective);
        var options = _options with { Precision = precision.Effective, Layout = layout };
        _log?.Invoke($"kernels: {KernelSelection.Current}");
        if (device.type == DeviceType.CPU)
        {
            string heap = NativeHeap.KeepFreedMemory(); // outside the log call: `_log?.Invoke(...)` skips its argument when nobody listens
            _log?.Invoke($"memory: {heap}");
        }

        _log?.Invoke($"precision: {precision}; layout: {layout}");
        if (precision.Warning is { } warning && Warned.TryAdd(warning, true))
        {
            _log?.Invoke($"warning: {warning}");
        }

        int? zeroedGammas = options.ZeroGamma ? Initialization.ZeroGamma.Apply(model) : null;

        var frozenNames = _options.FreezeEpochs == 0 ? null : _options.FrozenParameters ?? Backbone(model);
        if (frozenNames is not null)
        {
            var trained = model.named_parameters().Select(p => p.name).Where(n => !frozenNames.Contains(n));
            _log?.Invoke($"{(_options.FrozenParameters is null ? "backbone" : "parameters")} frozen for {_options.FreezeEpochs} epoch(s): {frozenNames.Count} parameters fixed, the rest ({string.Join(", ", trained)}) trains");
        }

        model.to(device);
        int stepsPerEpoch = StepsPerEpoch(train.Count, options.BatchSize, HasBatchNorm(model));
        foreach (string idle in IdleOptions.Warnings(options, stepsPerEpoch, zeroedGammas, model.GetType().Name, validationGiven))
        {
            _log?.Invoke($"warning: {idle}");
        }

        var history = new List<EpochMetrics>();
        using var masters = new Precision.MasterWeights(model, options.Precision, options.Layout);
        try
        {
            using var optimizer = Optimization.SgdFactory.Create(masters.Masters, options.LearningRate, options.Momentum, options.Nesterov, options.WeightDecay, options.NoBiasDecay);
            using var stepper = new TrainingStep(model, options, masters, optimizer, device);
            using var best = _options.EarlyStoppingCriteria is { } stopping ? new BestEpoch(stopping, masters, model) : null;
            long step = 0;
            int firstEpoch = 1;
            int initialPlan = _options.Epochs;
            if (_options.Resume && Checkpoint.Resume(_options.CheckpointDirectory!, masters, model, optimizer, best, _log) is { } state)
            {
                Checkpoint.CheckResumable(state, _options, stepsPerEpoch, _log);
                (firstEpoch, step) = (state.Epoch + 1, state.Step);
                history.AddRange(state.History);
                if (_options.TimeLimit is not null && state.History.Count > 0)
                {
                    // The schedule continues along the checkpoint's last plan until this run has timed an epoch of its own.
                    initialPlan = Math.Min(_options.Epochs, Math.Max(state.Epoch, state.History[^1].Epochs));
                    if (initialPlan == state.Epoch && state.Epoch < _options.Epochs)
                    {
                        _log?.Invoke(FormattableString.Invariant($"the checkpoint's time-limited run had ended its plan of {state.Epoch} epoch(s): nothing left to train (its learning-rate schedule reached its end)"));
                        firstEpoch = _options.Epochs + 1;
                    }
                }

                if (best is not null && best.Resume(state.History, state.BestEpoch, _log) && state.Epoch < _options.Epochs)
                {
                    _log?.Invoke(FormattableString.Invariant($"early stopping had stopped the run after epoch {state.Epoch}: nothing left to train"));
                    firstEpoch = _options.Epochs + 1;
                }
            }

            var plan = new EpochPlan(_options.TimeLimit, () => clock.Elapsed, _options.Epochs, initialPlan);
            if (plan.Limited && firstEpoch <= _options.Epochs)
            {
                _log?.Invoke(FormattableString.Invariant($"time limit {_options.TimeLimit!.Value.TotalSeconds:F0} s: at most {_options.Epochs} epoch(s); the plan is made after the first epoch is timed and the learning-rate schedule spans the planned epochs"));
            }

            // An image that stops decoding after it was read in this run is skipped (unless Strict); one that never read is an error.
            var read = _options.Data.Strict ? default : (Train: new RowsRead(train.Count), Validation: validation is null ? null : new RowsRead(validation.Count));
            for (int epoch = firstEpoch; epoch <= plan.Epochs; epoch++)
            {
                bool frozen = epoch <= _options.FreezeEpochs;
                Freeze(model, masters, optimizer, frozenNames, frozen);
                plan.EpochStarting();
                var metrics = RunEpoch(model, train, validation, read, stepper, device, epoch, stepsPerEpoch, plan, ref step, cancellationToken, frozenNames, frozen);
                // The loss of every step was finite, but the last update (or a batch-norm statistic) may not be: a model
                // that scores NaN for every input must not come back as a trained one.
                if (FirstNonFinite(model) is { } broken)
                {
                    throw new TrainingDivergedException(epoch, step, $"'{broken}' holds NaN or infinite values");
                }

                if (metrics.ValidationLoss is { } validationLoss && !double.IsFinite(validationLoss))
                {
                    throw new TrainingDivergedException(epoch, step, $"the validation loss is {validationLoss}");
                }

                string? planned = plan.EpochEnded(epoch, out bool more);
                metrics = metrics with { Epochs = plan.Epochs };
                history.Add(metrics);
                bool stop = best is not null && best.Record(metrics) && more;
                if (_options.CheckpointDirectory is { } directory)
                {
                    Checkpoint.Save(directory, new CheckpointState(epoch, step, stepper.Scaler?.Scale ?? 1, history, BatchSize: options.BatchSize), masters, model, optimizer, best);
                }

                if (planned is not null)
                {
                    _log?.Invoke(planned); // before the epoch's line, whose "n/N" already shows the new plan
                }

                _log?.Invoke(metrics.ToString());
                _onEpoch?.Invoke(metrics);
                if (stop)
                {
                    var criteria = _options.EarlyStoppingCriteria!;
                    _log?.Invoke(FormattableString.Invariant($"early stopping after epoch {epoch} of {plan.Epochs}: {criteria.Describe(best!.Best!)} at epoch {best.Best!.Epoch} was not bettered by {criteria.MinDelta} for {criteria.Patience} epoch(s)"));
                    break;
                }
            }

            if (best?.Best is { } kept)
            {
                best.Restore();
                int index = history.FindLastIndex(m => m.Epoch == kept.Epoch);
                history[index] = history[index] with { Restored = true };
                _log?.Invoke(FormattableString.Invariant($"restored the weights of epoch {kept.Epoch}, the best by {_options.EarlyStoppingCriteria!.Describe(kept)}"));
            }

            // Finite weights can still overflow to NaN scores (weights of 1e6 through eighteen layers): the returned model
            // scores a few training images once.
            if (history.Count > 0)
            {
                var probe = new ImageSubset(train, Enumerable.Range(0, Math.Min(train.Count, 32)).ToArray());
                double loss;
                try
                {
                    loss = Evaluate(model, probe, device, 32, prefetch: 1, read.Train, onSkipped: null).Loss;
                }
                catch (InvalidDataException)
                {
                    loss = 0; // none of those rows is readable (streamed data with unreadable rows): nothing to check with
                }

                if (!double.IsFinite(loss))
                {
                    throw new TrainingDivergedException(history[^1].Epoch, step, $"the trained model scores NaN or infinite values for the first {probe.Count} training images");
                }
            }
        }
        finally
        {
            Freeze(model, masters, null, frozenNames, frozen: false);
            masters.Detach();
            model.eval();
            model.to(CPU);
        }

        return history;
    }

    /// <summary>
    /// The optimizer steps one epoch of <paramref name="images"/> makes at <paramref name="batchSize"/>. A last batch of
    /// one image is left out in a model with batch norm (<paramref name="batchNorm"/>): in training mode a batch norm
    /// cannot normalize one value per channel (one image reaching a 1 x 1 feature map), its running variance becomes NaN
    /// and the model scores NaN for every input. Which image is left out changes with every epoch's shuffle.
    /// </summary>
    /// <param name="images">Training images.</param>
    /// <param name="batchSize">Images per step.</param>
    /// <param name="batchNorm">Whether the model has batch norm (SqueezeNet and VGG without BN have none).</param>
    public static int StepsPerEpoch(int images, int batchSize, bool batchNorm)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(images);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        int trained = LeavesOutLastSingle(images, batchSize, batchNorm) ? images - 1 : images;
        return (int)(((long)trained + batchSize - 1) / batchSize);
    }

    private static bool LeavesOutLastSingle(int images, int batchSize, bool batchNorm) => batchNorm && batchSize > 1 && images % batchSize == 1;

    private static bool HasBatchNorm(ImageClassifier model) => model.modules().Any(m => m is TorchSharp.Modules.BatchNorm);

    /// <summary>The name of the first parameter or buffer (running statistics) holding a NaN or an infinity, or null.</summary>
    internal static string? FirstNonFinite(ImageClassifier model)
    {
        using var scope = NewDisposeScope();
        foreach (var (name, tensor) in model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(model.named_buffers()))
        {
            if (tensor.is_floating_point() && !isfinite(tensor).all().item<bool>())
            {
                return name;
            }
        }

        return null;
    }

    /// <summary>Warnings already logged in this process (each is logged once).</summary>
    internal static ConcurrentDictionary<string, bool> Warned { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The shuffle seed of an epoch: the same in every process (<c>HashCode.Combine</c>, used before,
    /// is randomized per process, so a run repeated or resumed in a new process shuffled differently).
    /// </summary>
    internal static int EpochSeed(int seed, int epoch)
    {
        long mixed = TrainingStep.StepSeed(seed, epoch);
        return unchecked((int)(mixed >> 32) ^ (int)mixed);
    }

    /// <summary>Everything but the model's head: what <see cref="TrainerOptions.FreezeEpochs"/> freezes when no names are given.</summary>
    private static HashSet<string> Backbone(ImageClassifier model)
    {
        var head = model.HeadParameterNames;
        return model.named_parameters().Select(p => p.name).Where(n => !head.Contains(n)).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Holds the <paramref name="names"/> parameters fixed (no gradient, no update) or releases them.</summary>
    private static void Freeze(ImageClassifier model, Precision.MasterWeights masters, Optimization.MomentumSgd? optimizer, IReadOnlySet<string>? names, bool frozen)
    {
        if (names is null)
        {
            return;
        }

        foreach (var (name, parameter) in model.named_parameters())
        {
            if (names.Contains(name))
            {
                parameter.requires_grad = !frozen;
            }
        }

        if (optimizer is not null)
        {
            optimizer.Frozen = frozen
                ? new HashSet<Parameter>(masters.Masters.Where(m => names.Contains(m.Name)).Select(m => m.Parameter), ReferenceEqualityComparer.Instance)
                : null;
        }
    }

    private EpochMetrics RunEpoch(ImageClassifier model, IImageSource train, IImageSource? validation, (RowsRead? Train, RowsRead? Validation) read, TrainingStep stepper, Device device, int epoch, int stepsPerEpoch, EpochPlan plan, ref long step, CancellationToken cancellationToken, IReadOnlySet<string>? frozenNames, bool frozen)
    {
        int epochs = plan.Epochs;
        long totalSteps = (long)stepsPerEpoch * epochs;
        model.train();
        if (frozen && frozenNames is { } names)
        {
            // A frozen part is a fixed feature extractor: its batch norms use, and keep, their running statistics.
            foreach (var (name, module) in model.named_modules())
            {
                if (module is TorchSharp.Modules.BatchNorm && names.Contains(name + ".weight"))
                {
                    module.eval();
                }
            }
        }

        var order = Enumerable.Range(0, train.Count).ToArray();
        new Random(EpochSeed(_options.Seed, epoch)).Shuffle(order); // a function of (seed, epoch): resumable, also in another process
        if (LeavesOutLastSingle(train.Count, _options.BatchSize, HasBatchNorm(model)))
        {
            order = order[..^1];
        }

        double lossSum = 0;
        long seen = 0;
        long counted = 0;
        var skipped = new List<SkippedImage>();

        // Accumulated on the device and read once per epoch: one host sync per step (the loss) is enough.
        using var correct = zeros(1, dtype: ScalarType.Int64, device: device);
        double rate = 0;
        int logEvery = Math.Max(1, stepsPerEpoch / 10);
        var clock = Stopwatch.StartNew();
        try
        {
            using var prefetcher = new BatchPrefetcher(train, order, _options.BatchSize, _options.Data.PrefetchBatches, read.Train, cancellationToken);
            foreach (var batch in prefetcher.Batches)
            {
                using var lease = batch; // hands its pixel array back once the step's tensors are gone
                cancellationToken.ThrowIfCancellationRequested();
                skipped.AddRange(batch.Skipped);
                if (batch.Count == 0)
                {
                    continue; // every image of the batch was unreadable
                }

                rate = _options.Schedule.Rate(_options.LearningRate, step, totalSteps, stepsPerEpoch);
                double loss = stepper.Run(batch, epoch, step, rate, correct);
                if (double.IsFinite(loss))
                {
                    lossSum += loss * batch.Count;
                    counted += batch.Count;
                }

                seen += batch.Count;
                step++;
                bool logLine = _log is not null && step % logEvery == 0 && seen < train.Count;
                if (_onProgress is not null || logLine)
                {
                    double perSecond = seen / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
                    var progress = new TrainingProgress(epoch, epochs, seen + skipped.Count, train.Count, lossSum / Math.Max(1, counted), perSecond, TimeSpan.FromSeconds((train.Count - seen - skipped.Count) / perSecond))
                    {
                        TimeLimitRemaining = plan.Remaining,
                    };
                    _onProgress?.Invoke(progress);
                    if (logLine)
                    {
                        _log!(FormattableString.Invariant($"epoch {epoch}/{epochs}: {seen}/{train.Count} images, loss {progress.TrainLoss:F4}, {perSecond:F0} img/s, epoch ETA {progress.EpochRemaining.TotalSeconds:F0}s"));
                    }
                }
            }
        }
        catch (OperationCanceledException e) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(FormattableString.Invariant($"Training was cancelled in epoch {epoch}, after {step} completed step(s)."), e, cancellationToken);
        }

        clock.Stop();
        if (seen == 0)
        {
            throw new InvalidDataException($"Epoch {epoch}: none of the {train.Count} training images could be read; the first: {skipped.FirstOrDefault().Reason}");
        }

        LogSkipped(skipped, $"epoch {epoch}/{epochs}");
        var validationClock = Stopwatch.StartNew();
        (double Loss, double Accuracy)? val;
        try
        {
            val = validation is null ? null : Evaluate(model, validation, device, 256, _options.Data.PrefetchBatches, read.Validation, message => LogSkipped(message, $"epoch {epoch}/{epochs} validation"), cancellationToken);
        }
        catch (OperationCanceledException e) when (cancellationToken.IsCancellationRequested)
        {
            // Before, the whole validation pass ran first: minutes after Ctrl+C on a large validation set.
            throw new OperationCanceledException(FormattableString.Invariant($"Training was cancelled in epoch {epoch} during validation, after {step} completed step(s)."), e, cancellationToken);
        }

        return new EpochMetrics(epoch, epochs, lossSum / Math.Max(1, counted), (double)correct.item<long>() / Math.Max(1, seen), val?.Loss, val?.Accuracy, rate, clock.Elapsed, seen / clock.Elapsed.TotalSeconds)
        {
            SkippedImages = skipped.Count,
            ValidationElapsed = validation is null ? null : validationClock.Elapsed,
        };
    }

    /// <summary>Mean cross-entropy and accuracy of <paramref name="model"/> on <paramref name="data"/>, in eval mode. Every image must be readable.</summary>
    public static (double Loss, double Accuracy) Evaluate(ImageClassifier model, IImageSource data, Device? device = null, int batchSize = 256) =>
        Evaluate(model, data, device ?? CPU, batchSize, prefetch: 2, skippable: null, onSkipped: null);

    /// <summary>Softmax probabilities [N x classes], row-major, in eval mode on the CPU. Every image must be readable.</summary>
    public static float[] PredictProbabilities(ImageClassifier model, IImageSource data, int batchSize = 256)
    {
        model.eval();
        var s = data.Shape;
        var result = new float[(long)data.Count * model.NumClasses];
        int offset = 0; // within one array
        var order = Enumerable.Range(0, data.Count).ToArray();
        using (no_grad())
        using (var prefetcher = new BatchPrefetcher(data, order, batchSize, capacity: 2, skippable: null))
        {
            foreach (var batch in prefetcher.Batches)
            {
                using var lease = batch;
                using var scope = NewDisposeScope();
                var p = nn.functional.softmax(model.forward(batch.Images(s, CPU)), 1).contiguous();
                p.data<float>().CopyTo(result, offset);
                offset += batch.Count * model.NumClasses;
            }
        }

        return result;
    }

    private static (double Loss, double Accuracy) Evaluate(ImageClassifier model, IImageSource data, Device device, int batchSize, int prefetch, RowsRead? skippable, Action<List<SkippedImage>>? onSkipped, CancellationToken cancellationToken = default)
    {
        bool wasTraining = model.training;
        model.eval();
        double lossSum = 0;
        long correct = 0;
        long evaluated = 0;
        var skipped = new List<SkippedImage>();
        var order = Enumerable.Range(0, data.Count).ToArray();
        var computeType = ComputeType(model);
        using (no_grad())
        using (var prefetcher = new BatchPrefetcher(data, order, batchSize, prefetch, skippable, cancellationToken))
        {
            foreach (var batch in prefetcher.Batches)
            {
                using var lease = batch;
                cancellationToken.ThrowIfCancellationRequested();
                skipped.AddRange(batch.Skipped);
                if (batch.Count == 0)
                {
                    continue;
                }

                using var scope = NewDisposeScope();
                var x = batch.Images(data.Shape, device).to(computeType);
                var y = from_array(batch.Labels).to(device);
                var logits = model.forward(x).to(ScalarType.Float32);
                lossSum += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
                correct += logits.argmax(1).eq(y).sum().item<long>();
                evaluated += batch.Count;
            }
        }

        model.train(wasTraining);
        onSkipped?.Invoke(skipped);
        if (evaluated == 0)
        {
            throw new InvalidDataException($"None of the {data.Count} evaluation images could be read; the first: {skipped.FirstOrDefault().Reason}");
        }

        return (lossSum / evaluated, (double)correct / evaluated);
    }

    private void LogSkipped(List<SkippedImage> skipped, string where)
    {
        if (skipped.Count > 0)
        {
            _log?.Invoke(FormattableString.Invariant($"{where}: skipped {skipped.Count} unreadable image(s): {string.Join("; ", skipped.Take(3).Select(x => x.Reason))}{(skipped.Count > 3 ? "; ..." : string.Empty)}"));
        }
    }

    /// <summary>The dtype the model's layers compute in (bfloat16 or float16 while mixed-precision training runs).</summary>
    private static ScalarType ComputeType(ImageClassifier model) =>
        model.modules().Select(m => m switch { TorchSharp.Modules.Convolution c => c.weight?.dtype, TorchSharp.Modules.Linear l => l.weight?.dtype, _ => null }).FirstOrDefault(t => t is not null) ?? ScalarType.Float32;

    private static void CheckShape(ImageClassifier model, IImageSource data, string what)
    {
        if (data.Shape != model.InputShape)
        {
            throw new ArgumentException($"The {what} images are {data.Shape} but the model expects {model.InputShape}.");
        }

        if (data.NumClasses != model.NumClasses)
        {
            throw new ArgumentException($"The {what} data has {data.NumClasses} classes but the model outputs {model.NumClasses}.");
        }

        if (data.Count == 0)
        {
            throw new ArgumentException($"The {what} data has no images.");
        }
    }
}
