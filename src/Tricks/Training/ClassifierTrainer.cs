using System.Diagnostics;
using MLNetCnn.Architectures.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Training;

/// <summary>
/// Trains an <see cref="ImageClassifier"/> with SGD + momentum on cross-entropy. Batches are gathered
/// ahead on a background thread; each step runs in its own dispose scope so memory stays flat.
/// </summary>
public sealed class ClassifierTrainer
{
    private readonly TrainerOptions _options;
    private readonly Action<EpochMetrics>? _onEpoch;
    private readonly Action<string>? _log;

    /// <summary>Creates a trainer.</summary>
    /// <param name="options">Procedure settings.</param>
    /// <param name="onEpoch">Called after every epoch with its metrics.</param>
    /// <param name="log">Receives progress lines (epoch summaries and in-epoch progress).</param>
    public ClassifierTrainer(TrainerOptions options, Action<EpochMetrics>? onEpoch = null, Action<string>? log = null)
    {
        _options = options.Validate();
        _onEpoch = onEpoch;
        _log = log;
    }

    /// <summary>Trains <paramref name="model"/> in place and returns the per-epoch history. The model ends in eval mode on the CPU.</summary>
    public IReadOnlyList<EpochMetrics> Fit(ImageClassifier model, ImageDataset train, ImageDataset? validation = null, CancellationToken cancellationToken = default)
    {
        CheckShape(model, train, "training");
        if (validation is not null)
        {
            CheckShape(model, validation, "validation");
        }

        var device = Devices.Resolve(_options.Device);
        model.to(device);
        var parameters = model.parameters().ToList();
        using var optimizer = optim.SGD(parameters, _options.LearningRate, _options.Momentum, 0, _options.WeightDecay, _options.Nesterov);
        var shuffle = new Random(_options.Seed);
        int stepsPerEpoch = (train.Count + _options.BatchSize - 1) / _options.BatchSize;
        long totalSteps = (long)stepsPerEpoch * _options.Epochs;
        long step = 0;
        var history = new List<EpochMetrics>();
        var s = train.Shape;

        for (int epoch = 1; epoch <= _options.Epochs; epoch++)
        {
            model.train();
            var order = Enumerable.Range(0, train.Count).ToArray();
            shuffle.Shuffle(order);
            double lossSum = 0;
            long seen = 0;

            // Accumulated on the device and read once per epoch: one host sync per step (the loss) is enough.
            using var correct = zeros(1, dtype: ScalarType.Int64, device: device);
            double rate = 0;
            int logEvery = Math.Max(1, stepsPerEpoch / 10);
            var clock = Stopwatch.StartNew();
            using (var prefetcher = new BatchPrefetcher(train, order, _options.BatchSize, dropLast: false))
            {
                foreach (var batch in prefetcher.Batches)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    rate = _options.Schedule.Rate(_options.LearningRate, step, totalSteps);
                    foreach (var group in optimizer.ParamGroups)
                    {
                        group.LearningRate = rate;
                    }

                    using (var scope = NewDisposeScope())
                    {
                        var x = from_array(batch.Pixels).reshape(batch.Count, s.Channels, s.Height, s.Width).to(device);
                        var y = from_array(batch.Labels).to(device);
                        var logits = model.forward(x);
                        var loss = nn.functional.cross_entropy(logits, y);
                        optimizer.zero_grad();
                        loss.backward();
                        double value = loss.item<float>();
                        if (!double.IsFinite(value))
                        {
                            throw new TrainingDivergedException(epoch, step, value);
                        }

                        optimizer.step();
                        lossSum += value * batch.Count;
                        correct.add_(logits.argmax(1).eq(y).sum());
                    }

                    seen += batch.Count;
                    step++;
                    if (_log is not null && step % logEvery == 0 && seen < train.Count)
                    {
                        _log(FormattableString.Invariant($"epoch {epoch}/{_options.Epochs}: {seen}/{train.Count} images, loss {lossSum / seen:F4}, {seen / clock.Elapsed.TotalSeconds:F0} img/s"));
                    }
                }
            }

            clock.Stop();
            (double Loss, double Accuracy)? val = validation is null ? null : Evaluate(model, validation, device);
            var metrics = new EpochMetrics(epoch, _options.Epochs, lossSum / seen, (double)correct.item<long>() / seen, val?.Loss, val?.Accuracy, rate, clock.Elapsed, seen / clock.Elapsed.TotalSeconds);
            history.Add(metrics);
            _log?.Invoke(metrics.ToString());
            _onEpoch?.Invoke(metrics);
        }

        model.eval();
        model.to(CPU);
        return history;
    }

    /// <summary>Mean cross-entropy and accuracy of <paramref name="model"/> on <paramref name="data"/>, in eval mode.</summary>
    public static (double Loss, double Accuracy) Evaluate(ImageClassifier model, ImageDataset data, Device? device = null, int batchSize = 256)
    {
        var d = device ?? CPU;
        bool wasTraining = model.training;
        model.eval();
        double lossSum = 0;
        long correct = 0;
        var s = data.Shape;
        var order = Enumerable.Range(0, data.Count).ToArray();
        using (no_grad())
        using (var prefetcher = new BatchPrefetcher(data, order, batchSize, dropLast: false))
        {
            foreach (var batch in prefetcher.Batches)
            {
                using var scope = NewDisposeScope();
                var x = from_array(batch.Pixels).reshape(batch.Count, s.Channels, s.Height, s.Width).to(d);
                var y = from_array(batch.Labels).to(d);
                var logits = model.forward(x);
                lossSum += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
                correct += logits.argmax(1).eq(y).sum().item<long>();
            }
        }

        model.train(wasTraining);
        return (lossSum / data.Count, (double)correct / data.Count);
    }

    /// <summary>Softmax probabilities [N x classes], row-major, in eval mode on the CPU.</summary>
    public static float[] PredictProbabilities(ImageClassifier model, ImageDataset data, int batchSize = 256)
    {
        model.eval();
        var s = data.Shape;
        var result = new float[(long)data.Count * model.NumClasses];
        int offset = 0;
        var order = Enumerable.Range(0, data.Count).ToArray();
        using (no_grad())
        using (var prefetcher = new BatchPrefetcher(data, order, batchSize, dropLast: false))
        {
            foreach (var batch in prefetcher.Batches)
            {
                using var scope = NewDisposeScope();
                var x = from_array(batch.Pixels).reshape(batch.Count, s.Channels, s.Height, s.Width);
                var p = nn.functional.softmax(model.forward(x), 1).contiguous();
                p.data<float>().CopyTo(result, offset);
                offset += batch.Count * model.NumClasses;
            }
        }

        return result;
    }

    private static void CheckShape(ImageClassifier model, ImageDataset data, string what)
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
