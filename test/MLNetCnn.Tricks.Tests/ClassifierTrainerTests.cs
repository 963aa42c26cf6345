using System.Diagnostics;
using MLNetCnn.Architectures.Families;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Tricks.Regularization;
using MLNetCnn.Tricks.Schedules;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Training;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Tests;

[TestClass]
public sealed class ClassifierTrainerTests
{
    private static readonly ImageShape Shape = Fixtures.Shape;

    private static ImageDataset HalvesDataset(int count, int seed) => Fixtures.Halves(count, seed);

    private static ImageClassifier TinyResNet(int seed) => Fixtures.TinyResNet(seed);

    [TestMethod]
    public void AnEpochLeavesOutALastBatchOfOneImageOnlyInAModelWithBatchNorm()
    {
        // The one rule the trainer steps by and the CLI's few-steps warning counts with.
        Assert.AreEqual(1, ClassifierTrainer.StepsPerEpoch(17, 16, batchNorm: true));
        Assert.AreEqual(2, ClassifierTrainer.StepsPerEpoch(17, 16, batchNorm: false));
        Assert.AreEqual(2, ClassifierTrainer.StepsPerEpoch(18, 16, batchNorm: true));
        Assert.AreEqual(1, ClassifierTrainer.StepsPerEpoch(16, 16, batchNorm: true));
        Assert.AreEqual(5, ClassifierTrainer.StepsPerEpoch(5, 1, batchNorm: true), "a batch of one is every batch, not a last one left out");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ClassifierTrainer.StepsPerEpoch(5, 0, batchNorm: true));
    }

    [TestMethod]
    public void OptionsThatChangeNothingInThisRunAreLoggedAsWarnings()
    {
        // Found by an outside sweep: each of these trained normally, without a word.
        var data = HalvesDataset(64, seed: 1);
        using var model = TinyResNet(1);
        var lines = new List<string>();
        var options = new TrainerOptions
        {
            Epochs = 1,
            BatchSize = 32,
            LearningRate = 0.05,
            Mixup = new MixupOptions { OffForLastEpochs = 1 },
            FreezeEpochs = 2,
            Schedule = new CosineSchedule { WarmupEpochs = 3 },
            ZeroGamma = true,
            Device = ComputeDevice.Cpu,
        };
        new ClassifierTrainer(options, null, lines.Add).Fit(model, data, null);

        CollectionAssert.Contains(lines, "warning: Mixup.OffForLastEpochs 1 is at least Epochs 1: mixup never runs.");
        CollectionAssert.Contains(lines, "warning: FreezeEpochs 2 is at least Epochs 1: the frozen parameters never train.");
        CollectionAssert.Contains(lines, "warning: the learning-rate warmup (6 steps) is longer than the run (2 steps): the rate never reaches LearningRate 0.05 and never decays.");
        Assert.IsFalse(lines.Any(l => l.Contains("ZeroGamma", StringComparison.Ordinal)), "a ResNet has residual blocks to zero");

        // A fraction to hold out beside a validation set given: the set is used, the fraction not.
        lines.Clear();
        using var other = TinyResNet(2);
        new ClassifierTrainer(new TrainerOptions { Epochs = 1, BatchSize = 32, ValidationFraction = 0.2, Device = ComputeDevice.Cpu }, null, lines.Add).Fit(other, data, HalvesDataset(16, seed: 2));
        CollectionAssert.Contains(lines, "warning: ValidationFraction 0.2 (the estimator's ValidationSetFraction) is ignored: a validation set was given, and every epoch is evaluated on it; all the training images train.");
        Assert.IsFalse(lines.Any(l => l.StartsWith("held out", StringComparison.Ordinal)), string.Join('\n', lines));

        // A model without residual blocks: nothing for zero gamma to set.
        var idle = IdleOptions.Warnings(new TrainerOptions { Epochs = 4, ZeroGamma = true }, stepsPerEpoch: 10, zeroedGammas: 0, "Vgg").ToList();
        CollectionAssert.AreEqual(new[] { "ZeroGamma finds no residual block's last batch norm in Vgg (it applies to ResNet-style blocks): it changes nothing." }, idle);
        Assert.IsEmpty(IdleOptions.Warnings(new TrainerOptions { Epochs = 4, FreezeEpochs = 3, Mixup = new MixupOptions { OffForLastEpochs = 3 }, Schedule = new CosineSchedule { WarmupEpochs = 4 } }, 10, null, "ResNet"));
    }

    [TestMethod]
    public void TrainingLearnsASeparableProblemAndReportsEveryEpoch()
    {
        var data = HalvesDataset(256, seed: 1);
        var validation = HalvesDataset(64, seed: 2);
        using var model = TinyResNet(1);
        var epochs = new List<EpochMetrics>();
        var lines = new List<string>();
        var history = new ClassifierTrainer(new TrainerOptions { Epochs = 3, BatchSize = 32, LearningRate = 0.05, Schedule = new CosineSchedule(), Device = ComputeDevice.Cpu }, epochs.Add, lines.Add)
            .Fit(model, data, validation);
        Assert.AreEqual(3, history.Count, string.Join("\n", lines));
        Assert.IsTrue(history[^1].ValidationAccuracy > 0.95, string.Join("\n", lines));
        CollectionAssert.AreEqual(history.ToList(), epochs);
        Assert.IsTrue(history[^1].ValidationAccuracy > 0.95, $"validation accuracy {history[^1].ValidationAccuracy}");
        Assert.IsTrue(history[^1].TrainLoss < history[0].TrainLoss);
        Assert.IsTrue(lines.Any(l => l.StartsWith("epoch 3/3: loss", StringComparison.Ordinal)));
        Assert.IsFalse(model.training, "the model ends in eval mode");
    }

    /// <summary>
    /// Found by an outside tester: an epoch line said "0.4s, 149 img/s" for an epoch of about 38 s of wall time, the rest
    /// unaccounted for. The line names the training steps' time and the validation pass's time apart.
    /// </summary>
    [TestMethod]
    public void TheEpochLineSaysWhatItsTimesMeasure()
    {
        var data = HalvesDataset(32, seed: 5);
        var (bytes, labels) = Fixtures.HalvesBytes(32, seed: 6);
        ImageDecoder slow = (row, pixels) =>
        {
            Thread.Sleep(10);
            bytes.AsSpan(row * Shape.Size, Shape.Size).CopyTo(pixels);
        };
        using var validation = new StreamingImageSource(Shape, labels, 2, slow, new DataOptions { DecodeParallelism = 1 });
        using var model = TinyResNet(4);
        var options = new TrainerOptions { Epochs = 1, BatchSize = 16, Device = ComputeDevice.Cpu };
        var validated = new ClassifierTrainer(options).Fit(model, data, validation).Single();
        Assert.IsTrue(validated.ValidationElapsed >= TimeSpan.FromSeconds(0.3), $"32 images at 10 ms each: {validated.ValidationElapsed}");
        StringAssert.Contains(validated.ToString(), FormattableString.Invariant($", training {validated.Elapsed.TotalSeconds:F1}s at {validated.ImagesPerSecond:F0} img/s, validation {validated.ValidationElapsed!.Value.TotalSeconds:F1}s"));

        var trainedOnly = new ClassifierTrainer(options).Fit(model, data).Single();
        Assert.IsNull(trainedOnly.ValidationElapsed);
        Assert.IsFalse(trainedOnly.ToString().Contains("validation", StringComparison.Ordinal), trainedOnly.ToString());
    }

    [TestMethod]
    public void SameSeedGivesTheSameWeights()
    {
        var data = HalvesDataset(64, seed: 3);
        float[] Train()
        {
            using var model = TinyResNet(7);
            new ClassifierTrainer(new TrainerOptions { Epochs = 1, BatchSize = 16, Seed = 7, Device = ComputeDevice.Cpu }).Fit(model, data);
            return model.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
        }

        CollectionAssert.AreEqual(Train(), Train());
    }

    [TestMethod]
    public void ADivergingLossStopsWithTheEpochAndStep()
    {
        var data = HalvesDataset(64, seed: 4);
        using var model = TinyResNet(2);
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() =>
            new ClassifierTrainer(new TrainerOptions { Epochs = 2, BatchSize = 16, LearningRate = 1e12, Momentum = 0, Device = ComputeDevice.Cpu }).Fit(model, data));
        Assert.AreEqual(1, e.Epoch);
        Assert.IsTrue(e.Step >= 1);
        StringAssert.Contains(e.Message, $"step {e.Step}");
    }

    [TestMethod]
    public void MismatchedShapesAndBadOptionsAreRejected()
    {
        using var model = TinyResNet(1);
        var wrongShape = new ImageDataset(new float[2 * 100], new[] { 0, 1 }, new ImageShape(1, 10, 10), 2);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new ClassifierTrainer(new TrainerOptions()).Fit(model, wrongShape));
        StringAssert.Contains(e.Message, "1x10x10");
        StringAssert.Contains(e.Message, "1x8x8");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ClassifierTrainer(new TrainerOptions { BatchSize = 0 }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ClassifierTrainer(new TrainerOptions { LearningRate = double.NaN }));
        Assert.ThrowsExactly<ArgumentException>(() => new ImageDataset(new float[10], new[] { 0, 1 }, Shape, 2));
        Assert.ThrowsExactly<ArgumentException>(() => new ImageDataset(new float[128], new[] { 0, 5 }, Shape, 2));
    }

    [TestMethod]
    public void NarrowNetworksGetFiniteGradients()
    {
        // 8-channel 3x3 convolutions hit a wrong oneDNN AVX-512 kernel on our build machines unless the
        // library's OneDnnIsa guard limits oneDNN (26 of 30 steps had NaN gradients without it).
        manual_seed(1);
        using var model = (ResNetConfig.ResNet18 with { Width = 0.125 }).Create(new ArchitectureOptions { NumClasses = 10, InputChannels = 1, InputSize = 28, SmallInputStem = true });
        using var optimizer = optim.SGD(model.parameters(), 0.05, 0.9);
        model.train();
        for (int step = 0; step < 20; step++)
        {
            using var scope = NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.forward(randn(16, 1, 28, 28)), randint(0, 10, new long[] { 16 }));
            optimizer.zero_grad();
            loss.backward();
            var bad = model.named_parameters().FirstOrDefault(p => !p.parameter.grad!.isfinite().all().item<bool>());
            Assert.IsNull(bad.name, $"step {step}: non-finite gradient in {bad.name}");
            optimizer.step();
        }
    }

    [TestMethod]
    public void CudaRequestedWithoutAGpuFailsClearly()
    {
        if (cuda.is_available())
        {
            Assert.Inconclusive("A CUDA device is present.");
        }

        var e = Assert.ThrowsExactly<InvalidOperationException>(() => Devices.Resolve(ComputeDevice.Cuda));
        StringAssert.Contains(e.Message, "Cuda");
        Assert.AreEqual(TorchSharp.DeviceType.CPU, Devices.Resolve(ComputeDevice.Auto).type);
    }

    [TestMethod]
    public void ASoakOfTwoThousandStepsHoldsMemoryFlat()
    {
        // One dispose scope per step: native memory must not grow with the number of steps.
        var data = HalvesDataset(256, seed: 5);
        using var model = TinyResNet(3);
        var trainer = new ClassifierTrainer(new TrainerOptions { Epochs = 4, BatchSize = 4, Device = ComputeDevice.Cpu });
        trainer.Fit(model, data);
        long before = RssBytes();
        trainer = new ClassifierTrainer(new TrainerOptions { Epochs = 32, BatchSize = 4, Device = ComputeDevice.Cpu });
        trainer.Fit(model, data);
        long after = RssBytes();
        double grownMb = (after - before) / 1e6;
        Assert.IsTrue(grownMb < 40, $"resident memory grew {grownMb:F1} MB over 2,048 steps");
    }

    private static long RssBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.WorkingSet64;
    }

    /// <summary>
    /// An outside sweep: a cancel during the epoch's validation pass waited for the whole pass (and the next epoch's
    /// start) before it stopped training; on a large validation set that is minutes after Ctrl+C.
    /// </summary>
    [TestMethod]
    public void CancellingDuringValidationStopsTheValidationPass()
    {
        var data = Fixtures.Halves(32, seed: 3);
        using var stop = new CancellationTokenSource();
        using var validation = new CancelOnRead(Fixtures.Halves(2048, seed: 4), stop);
        using var model = Fixtures.TinyResNet(2);
        int epochs = 0;
        var options = new TrainerOptions { Epochs = 2, BatchSize = 16, Device = ComputeDevice.Cpu };
        var e = Assert.ThrowsExactly<OperationCanceledException>(() => new ClassifierTrainer(options, _ => epochs++).Fit(model, data, validation, stop.Token));
        StringAssert.Contains(e.Message, "in epoch 1 during validation");
        Assert.AreEqual(0, epochs, "the cancelled epoch is not reported as done");
    }

    /// <summary>A validation set whose first read cancels training, as a Ctrl+C in the validation pass would.</summary>
    private sealed class CancelOnRead(IImageSource inner, CancellationTokenSource stop) : IImageSource
    {
        public int Count => inner.Count;

        public ImageShape Shape => inner.Shape;

        public int NumClasses => inner.NumClasses;

        public IReadOnlyList<int> Labels => inner.Labels;

        public float[]? TeacherLogits => inner.TeacherLogits;

        public ImagePixelType PixelType => inner.PixelType;

        public int ReadParallelism => 1;

        public void ReadImage(int row, Span<byte> destination)
        {
            stop.Cancel();
            inner.ReadImage(row, destination);
        }

        public void Dispose() => inner.Dispose();
    }
}
