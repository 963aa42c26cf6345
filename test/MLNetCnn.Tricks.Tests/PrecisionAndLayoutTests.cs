using MLNetCnn.Architectures.Runtime;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Schedules;
using MLNetCnn.Tricks.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Tests;

/// <summary>
/// Precision <see cref="TrainingPrecision.Auto"/> never slows training down (bfloat16 only where it is native),
/// and the channels-last layout changes speed, not results.
/// </summary>
[TestClass]
public sealed class PrecisionAndLayoutTests
{
    private static readonly KernelChoice NotNative = new("DEFAULT", KernelChoiceSource.Probe, "passed", "test CPU")
    {
        BFloat16 = BFloat16Kernels.NotNative,
        BFloat16Reason = "this CPU has no AVX512_BF16 or AMX",
        BFloat16Slowdown = 16.2,
    };

    [TestMethod]
    public void AutoTakesBFloat16OnlyWhereItIsNative()
    {
        var native = NotNative with { BFloat16 = BFloat16Kernels.Native, BFloat16Reason = "native bfloat16 convolutions passed the probe" };
        Assert.AreEqual(TrainingPrecision.BFloat16, PrecisionPolicy.Resolve(TrainingPrecision.Auto, DeviceType.CPU, native).Effective);
        var fallback = PrecisionPolicy.Resolve(TrainingPrecision.Auto, DeviceType.CPU, NotNative);
        Assert.AreEqual(TrainingPrecision.Float32, fallback.Effective);
        StringAssert.Contains(fallback.Reason, "AVX512_BF16");
        Assert.IsNull(fallback.Warning);
        Assert.AreEqual(TrainingPrecision.Float32, PrecisionPolicy.Resolve(TrainingPrecision.Auto, DeviceType.CPU, NotNative with { BFloat16 = BFloat16Kernels.Faulty }).Effective);
        Assert.AreEqual(TrainingPrecision.Float16, PrecisionPolicy.Resolve(TrainingPrecision.Auto, DeviceType.CUDA, NotNative).Effective);
        Assert.AreEqual(TrainingPrecision.Float32, PrecisionPolicy.Resolve(TrainingPrecision.Float32, DeviceType.CPU, native).Effective, "an explicit choice stands");
    }

    [TestMethod]
    public void ExplicitBFloat16WithoutNativeSupportWarnsWithTheMeasuredCostAndFaultyKernelsAreRefused()
    {
        var slow = PrecisionPolicy.Resolve(TrainingPrecision.BFloat16, DeviceType.CPU, NotNative);
        Assert.AreEqual(TrainingPrecision.BFloat16, slow.Effective);
        StringAssert.Contains(slow.Warning, "16.2x slower than float32");
        var e = Assert.ThrowsExactly<NotSupportedException>(() => PrecisionPolicy.Resolve(TrainingPrecision.BFloat16, DeviceType.CPU, NotNative with { BFloat16 = BFloat16Kernels.Faulty, BFloat16Reason = "bfloat16 convolutions were wrong: 3x3 conv 8->8" }));
        StringAssert.Contains(e.Message, "3x3 conv 8->8");
        Assert.ThrowsExactly<NotSupportedException>(() => PrecisionPolicy.Resolve(TrainingPrecision.Float16, DeviceType.CPU, NotNative));
    }

    [TestMethod]
    public void TheTrainerLogsKernelsAndPrecisionAndWarnsOncePerProcess()
    {
        ClassifierTrainer.Warned.Clear();
        var lines = new List<string>();
        var options = new TrainerOptions { Epochs = 1, BatchSize = 8, Precision = TrainingPrecision.BFloat16, Device = ComputeDevice.Cpu };
        for (int run = 0; run < 2; run++)
        {
            using var model = Fixtures.TinyResNet(1);
            new ClassifierTrainer(options, log: lines.Add).Fit(model, Fixtures.Halves(8, 1));
        }

        Assert.AreEqual(2, lines.Count(l => l.StartsWith("kernels: ", StringComparison.Ordinal) && l.Contains(KernelSelection.Current.Reason, StringComparison.Ordinal)));
        Assert.AreEqual(2, lines.Count(l => l.StartsWith("precision: BFloat16", StringComparison.Ordinal)));
        int warnings = lines.Count(l => l.StartsWith("warning: BFloat16 was requested on a CPU without native bfloat16", StringComparison.Ordinal));
        Assert.AreEqual(KernelSelection.Current.BFloat16 == BFloat16Kernels.NotNative ? 1 : 0, warnings, string.Join("\n", lines));

        lines.Clear();
        using var auto = Fixtures.TinyResNet(1);
        new ClassifierTrainer(options with { Precision = TrainingPrecision.Auto }, log: lines.Add).Fit(auto, Fixtures.Halves(8, 1));
        var expected = KernelSelection.Current.BFloat16 == BFloat16Kernels.Native ? "BFloat16 (Auto)" : "Float32 (Auto)";
        Assert.IsTrue(lines.Any(l => l.StartsWith($"precision: {expected}", StringComparison.Ordinal)), string.Join("\n", lines));
    }

    [TestMethod]
    public void ChannelsLastHoldsConvolutionWeightsInNhwcWhileTrainingAndTrainsLikeChannelsFirst()
    {
        var data = Fixtures.Halves(96, seed: 3);
        var options = new TrainerOptions { Epochs = 1, BatchSize = 32, LearningRate = 0.05, Schedule = new CosineSchedule(), Precision = TrainingPrecision.Float32, Device = ComputeDevice.Cpu };
        using var channelsFirst = Fixtures.TinyResNet(5);
        new ClassifierTrainer(options with { Layout = TensorLayout.ChannelsFirst }).Fit(channelsFirst, data);

        using var channelsLast = Fixtures.TinyResNet(5);
        bool nhwcWhileTraining = false;
        new ClassifierTrainer(options with { Layout = TensorLayout.ChannelsLast }, onEpoch: _ => nhwcWhileTraining = SpatialConvWeights(channelsLast).All(w => MemoryLayout.IsChannelsLast(w) && !w.is_contiguous())).Fit(channelsLast, data);

        Assert.IsTrue(nhwcWhileTraining, "every 3x3 convolution weight is channels-last during training");
        Assert.IsTrue(channelsLast.parameters().All(p => p.is_contiguous()), "training ends with plain channels-first weights");
        float[] a = Fixtures.State(channelsFirst), b = Fixtures.State(channelsLast);
        double worst = a.Zip(b).Max(p => Math.Abs(p.First - p.Second) / (1e-3 + Math.Abs(p.First)));
        Assert.IsLessThan(1e-2, worst, "the same three steps in either layout end with the same weights up to rounding");
        using var untrained = Fixtures.TinyResNet(5);
        Assert.IsGreaterThan(0.0, a.Zip(Fixtures.State(untrained)).Max(p => Math.Abs(p.First - p.Second)), "training moved the weights");
    }

    private static IEnumerable<Tensor> SpatialConvWeights(nn.Module model) =>
        model.modules().OfType<TorchSharp.Modules.Conv2d>().Select(c => c.weight!).Where(w => w.shape[1] > 1 && w.shape[2] > 1);
}
