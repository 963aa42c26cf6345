using MLNetCnn.Architectures.Models;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Regularization;
using MLNetCnn.Tricks.Schedules;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Tricks.Tests;

/// <summary>
/// TorchSharp frees a <c>Scalar</c> in its finalizer. A temporary Scalar (an implicit conversion such
/// as <c>t.add_(1)</c>, or one made inside TorchSharp's BatchNorm and SGD) is unreachable while the
/// native call that reads it runs, so a garbage collection started by another thread can free it
/// mid-call: "Unknown scalar type" or a <c>toFloat</c> assertion, intermittently. The training path
/// holds every Scalar it passes; this soak trains with a second thread forcing collections
/// continuously, which made the unfixed path fail within a few dozen steps.
/// </summary>
[TestClass]
public sealed class ScalarLifetimeTests
{
    [TestMethod]
    public void TrainingSurvivesGarbageCollectionsFromAnotherThread()
    {
        var train = Fixtures.Halves(256, seed: 3);
        var options = new TrainerOptions
        {
            Epochs = 6,
            BatchSize = 8,
            LearningRate = 0.05,
            Nesterov = true,
            WeightDecay = 1e-4,
            NoBiasDecay = true,
            LabelSmoothing = 0.1,
            Mixup = new MixupOptions { Alpha = 0.2 },
            Schedule = new CosineSchedule { WarmupSteps = 10 },
            Precision = TrainingPrecision.BFloat16,
            Seed = 5,
        };
        using var model = Fixtures.TinyResNet(5);
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }) { IsBackground = true };
        collector.Start();
        try
        {
            var history = new ClassifierTrainer(options).Fit(model, train);
            Assert.AreEqual(6, history.Count);
            Assert.IsTrue(history.All(h => double.IsFinite(h.TrainLoss)), "every epoch's loss is finite");
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }
}
