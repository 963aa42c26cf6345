using MLNetCnn.Architectures.Models;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Tricks.Tests;

/// <summary>Early stopping on a validation metric, the restored best epoch, and the stratified validation split.</summary>
[TestClass]
public sealed class EarlyStoppingTests
{
    [TestMethod]
    public void TrainingStopsOnAPlateauAndEndsWithTheBestEpochsWeights()
    {
        // Halves is easy: validation accuracy peaks within a couple of epochs and cannot improve after 100 %.
        var data = Fixtures.Halves(256, seed: 21);
        using var model = Fixtures.TinyResNet(5);
        var lines = new List<string>();
        var options = new TrainerOptions
        {
            Epochs = 12,
            BatchSize = 32,
            LearningRate = 0.05,
            Device = ComputeDevice.Cpu,
            ValidationFraction = 0.25,
            EarlyStoppingCriteria = new EarlyStopping { Metric = EarlyStoppingMetric.Accuracy, Patience = 2, MinDelta = 0 },

            // Float32, so that the epoch's validation pass and the check below compute alike: under bfloat16 (Auto on a CPU
            // with native bfloat16) the epoch validates in bfloat16 and the float32 model's loss differs by about 1 %.
            Precision = TrainingPrecision.Float32,
        };
        var history = new ClassifierTrainer(options, log: lines.Add).Fit(model, data);

        Assert.IsTrue(history.Count < options.Epochs, $"stopped after {history.Count} of {options.Epochs} epochs:\n{string.Join('\n', lines)}");
        var kept = history.Single(m => m.Restored);
        Assert.AreEqual(history.Count - options.EarlyStoppingCriteria.Patience, kept.Epoch, "the best epoch is the one the patience counts from");
        Assert.AreEqual(history.Max(m => m.ValidationAccuracy), kept.ValidationAccuracy);
        Assert.IsTrue(lines.Any(l => l.StartsWith($"early stopping after epoch {history.Count} of 12", StringComparison.Ordinal)), string.Join('\n', lines));
        Assert.IsTrue(lines.Any(l => l.StartsWith($"restored the weights of epoch {kept.Epoch}", StringComparison.Ordinal)), string.Join('\n', lines));
        Assert.IsTrue(lines.Any(l => l.StartsWith("held out 64 of 256 images", StringComparison.Ordinal)), string.Join('\n', lines));

        // The model scores the held-out images exactly as it did at the end of the kept epoch, not the last one.
        var (_, validation) = data.StratifiedSplit(options.ValidationFraction, options.Seed);
        var (loss, accuracy) = ClassifierTrainer.Evaluate(model, validation);
        Assert.AreEqual(kept.ValidationAccuracy!.Value, accuracy, 1e-12);
        Assert.AreEqual(kept.ValidationLoss!.Value, loss, 1e-6);
        Assert.AreNotEqual(history[^1].ValidationLoss!.Value, loss, 1e-9, "the last epoch's weights were replaced");
    }

    /// <summary>
    /// An outside sweep: the best epoch was not in the checkpoint, so a run interrupted after its best epoch and resumed
    /// counted patience from the resumed epoch, trained past the uninterrupted run's stop and ended with another epoch's
    /// weights; resuming a run that had stopped early trained on, and one that had finished came back with its last
    /// epoch's weights, not the best.
    /// </summary>
    [TestMethod]
    public void AResumedRunKeepsTheBestEpochAndStopsWhereTheUninterruptedOneStopped()
    {
        var data = Fixtures.Halves(96, seed: 21);
        string directory = Directory.CreateTempSubdirectory("mlnetcnn-early-resume-").FullName;
        var options = new TrainerOptions
        {
            Epochs = 10,
            BatchSize = 16,
            LearningRate = 0.05,
            Device = ComputeDevice.Cpu,
            ValidationFraction = 0.25,
            EarlyStoppingCriteria = new EarlyStopping { Metric = EarlyStoppingMetric.Accuracy, Patience = 2, MinDelta = 0 },
        };
        try
        {
            using var straight = Fixtures.TinyResNet(5);
            var full = new ClassifierTrainer(options).Fit(straight, data);
            int kept = full.Single(m => m.Restored).Epoch;
            Assert.IsTrue(full.Count < options.Epochs, $"the uninterrupted run stops early ({full.Count} of {options.Epochs} epochs)");

            // Interrupted after the epoch following the best one: the checkpoint is past the best epoch.
            var checkpointed = options with { CheckpointDirectory = directory };
            using var interrupted = Fixtures.TinyResNet(5);
            using var stop = new CancellationTokenSource();
            Assert.ThrowsExactly<OperationCanceledException>(() =>
                new ClassifierTrainer(checkpointed, m => { if (m.Epoch == kept + 1) { stop.Cancel(); } }).Fit(interrupted, data, cancellationToken: stop.Token));

            using var resumed = Fixtures.TinyResNet(99);
            var history = new ClassifierTrainer(checkpointed with { Resume = true }).Fit(resumed, data);
            Assert.AreEqual(full.Count, history.Count, "the resumed run stops where the uninterrupted one stopped");
            Assert.AreEqual(kept, history.Single(m => m.Restored).Epoch);
            CollectionAssert.AreEqual(Fixtures.State(straight), Fixtures.State(resumed), "the resumed run ends with the best epoch's weights");

            // Resuming the finished run trains nothing and still ends with the best epoch's weights.
            using var again = Fixtures.TinyResNet(98);
            var lines = new List<string>();
            var repeated = new ClassifierTrainer(checkpointed with { Resume = true }, log: lines.Add).Fit(again, data);
            Assert.AreEqual(full.Count, repeated.Count, string.Join('\n', lines));
            Assert.AreEqual(kept, repeated.Single(m => m.Restored).Epoch);
            CollectionAssert.AreEqual(Fixtures.State(straight), Fixtures.State(again), "a resumed finished run ends with the best epoch's weights");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void EarlyStoppingWithoutValidationDataIsRefused()
    {
        using var model = Fixtures.TinyResNet(1);
        var options = new TrainerOptions { Epochs = 2, Device = ComputeDevice.Cpu, EarlyStoppingCriteria = new EarlyStopping() };
        var e = Assert.ThrowsExactly<ArgumentException>(() => new ClassifierTrainer(options).Fit(model, Fixtures.Halves(32, 1)));
        StringAssert.Contains(e.Message, "ValidationFraction");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TrainerOptions { EarlyStoppingCriteria = new EarlyStopping { Patience = 0 } }.Validate());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TrainerOptions { ValidationFraction = 1 }.Validate());
    }

    /// <summary>An outside sweep's one image per class: the split held out nothing, and the error said only "The validation data has no images".</summary>
    [TestMethod]
    public void AValidationFractionThatHoldsOutNothingNamesTheOptionAndWhy()
    {
        using var model = Fixtures.TinyResNet(1);
        var options = new TrainerOptions { Epochs = 1, Device = ComputeDevice.Cpu, ValidationFraction = 0.2 };
        var e = Assert.ThrowsExactly<ArgumentException>(() => new ClassifierTrainer(options).Fit(model, Fixtures.Halves(2, 1)));
        StringAssert.Contains(e.Message, "ValidationFraction 0.2 (the estimator's ValidationSetFraction) held out no image");
        StringAssert.Contains(e.Message, "single image");
    }

    [TestMethod]
    public void TheValidationSplitHoldsOutEveryClassInItsProportion()
    {
        // Unbalanced classes: 50, 30, 7 and 3 images.
        int[] counts = [50, 30, 7, 3];
        var labels = counts.SelectMany((n, c) => Enumerable.Repeat(c, n)).ToArray();
        new Random(4).Shuffle(labels);
        var shape = new ImageShape(1, 2, 2);
        var pixels = Enumerable.Range(0, labels.Length * shape.Size).Select(i => (float)(i / shape.Size)).ToArray(); // pixel value = row index
        using var data = new ImageDataset(pixels, labels, shape, counts.Length);

        var (train, validation) = data.StratifiedSplit(0.2, seed: 3);
        Assert.AreEqual(data.Count, train.Count + validation.Count);
        for (int c = 0; c < counts.Length; c++)
        {
            int heldOut = validation.Labels.Count(l => l == c);
            Assert.IsTrue(heldOut >= 1 && train.Labels.Contains(c), $"class {c}: {heldOut} held out, present in training: {train.Labels.Contains(c)}");
            Assert.IsTrue(Math.Abs(heldOut - (0.2 * counts[c])) <= 1, $"class {c}: {heldOut} held out of {counts[c]}");
        }

        // Every row lands on one side, with its label, in the source's order; the seed decides which.
        CollectionAssert.AreEqual(Enumerable.Range(0, data.Count).ToList(), train.Rows.Concat(validation.Rows).Order().ToList());
        Assert.IsTrue(train.Rows.SequenceEqual(train.Rows.Order()) && validation.Rows.SequenceEqual(validation.Rows.Order()), "both parts keep the source's row order");
        Assert.IsTrue(validation.Rows.Select((r, i) => validation.Labels[i] == labels[r]).All(x => x), "labels travel with their rows");
        var image = new byte[shape.Size * sizeof(float)];
        for (int i = 0; i < validation.Count; i++)
        {
            validation.ReadImage(i, image);
            Assert.AreEqual(validation.Rows[i], (int)BitConverter.ToSingle(image, 0), $"subset row {i} reads its source row");
        }

        CollectionAssert.AreEqual(validation.Rows.ToList(), data.StratifiedSplit(0.2, seed: 3).Validation.Rows.ToList());
        CollectionAssert.AreNotEqual(validation.Rows.ToList(), data.StratifiedSplit(0.2, seed: 4).Validation.Rows.ToList());
    }
}
