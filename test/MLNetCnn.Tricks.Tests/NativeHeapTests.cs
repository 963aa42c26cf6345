using MLNetCnn.Architectures.Runtime;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Tricks.Tests;

/// <summary>The glibc heap settings are the trainer's to apply, whether or not anyone reads its log.</summary>
[TestClass]
public sealed class NativeHeapTests
{
    [TestMethod]
    public void ATrainerWithoutALogStillAppliesTheHeapSettings()
    {
        // NativeHeap applies once per process; run alone (or first), only this trainer can have applied it.
        using var model = Fixtures.TinyResNet(seed: 1);
        using var data = Fixtures.Halves(32, seed: 1);
        new ClassifierTrainer(new TrainerOptions { Epochs = 1, BatchSize = 16, Device = ComputeDevice.Cpu }).Fit(model, data);
        Assert.IsNotNull(NativeHeap.State, "Fit on the CPU without a log left the heap settings unapplied");
        if (OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("MLNETCNN_MALLOC_TUNING") is null)
        {
            StringAssert.StartsWith(NativeHeap.State, "glibc keeps freed memory");
        }
    }
}
