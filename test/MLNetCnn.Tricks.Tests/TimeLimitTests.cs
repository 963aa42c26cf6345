using System.Diagnostics;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Tricks.Tests;

/// <summary>
/// <see cref="TrainerOptions.TimeLimit"/>: the plan of epochs that fit the time (on a clock the test drives), and the trainer
/// that follows it, ending with the learning-rate schedule at its end.
/// </summary>
[TestClass]
public sealed class TimeLimitTests
{
    [TestMethod]
    public void ThePlanIsTheEpochsThatFitTheTimeLeftAtTheSlowerOfTheMeanAndTheSlowestEpoch()
    {
        var now = TimeSpan.Zero;
        var plan = new EpochPlan(TimeSpan.FromSeconds(100), () => now, maximum: 50, initial: 50);
        Assert.AreEqual(50, plan.Epochs, "before an epoch was timed the schedule spans Epochs");

        now = TimeSpan.FromSeconds(2); // setup before the first epoch counts against the limit
        Epoch(plan, 1, ref now, seconds: 10, out string? line, out bool more);
        Assert.IsTrue(more);
        Assert.AreEqual(1 + 8, plan.Epochs, "88 s left at 10 s an epoch: 8 more");
        StringAssert.StartsWith(line, "time limit 100 s: 12 s used, 10.0 s an epoch (mean 10.0 s, slowest 10.0 s): 9 epoch(s) planned, 8 more");

        // A faster epoch: the plan grows. The first epoch (which also creates the kernels) stands for the slowest only
        // until a second one is timed: mean (18 - 2) / 2 = 8 s against a slowest of 6 s, 82 s left.
        Epoch(plan, 2, ref now, seconds: 6, out line, out more);
        Assert.IsNotNull(line);
        Assert.AreEqual(2 + 10, plan.Epochs);

        // Mean 8 s, slowest 8 s, 74 s left: 9 more, the same plan, not logged again.
        Epoch(plan, 3, ref now, seconds: 8, out line, out more);
        Assert.IsNull(line);
        Assert.AreEqual(12, plan.Epochs);

        // A slow epoch shrinks it, at the slowest epoch rather than the mean (13.5 s): 44 s left, 30 s an epoch, one more.
        Epoch(plan, 4, ref now, seconds: 30, out line, out more);
        Assert.AreEqual(5, plan.Epochs);
        Assert.IsTrue(more);
        StringAssert.Contains(line, "30.0 s an epoch (mean 13.5 s, slowest 30.0 s): 5 epoch(s) planned, 1 more");

        // Time left for another (42 s), but the plan's end was reached: no epoch after the schedule ended.
        Epoch(plan, 5, ref now, seconds: 2, out line, out more);
        Assert.IsFalse(more);
        Assert.AreEqual(5, plan.Epochs);
        StringAssert.EndsWith(line, "the planned epochs are done: training ends after epoch 5");
    }

    private static void Epoch(EpochPlan plan, int epoch, ref TimeSpan now, double seconds, out string? line, out bool more)
    {
        plan.EpochStarting();
        now += TimeSpan.FromSeconds(seconds);
        line = plan.EpochEnded(epoch, out more);
    }

    [TestMethod]
    public void ThePlanNeverExceedsEpochsAndEndsWhenNoEpochFits()
    {
        var now = TimeSpan.Zero;
        var plan = new EpochPlan(TimeSpan.FromHours(1), () => now, maximum: 4, initial: 4);
        plan.EpochStarting();
        now = TimeSpan.FromSeconds(1);
        StringAssert.EndsWith(plan.EpochEnded(1, out bool more), "4 epoch(s) planned, 3 more (the learning-rate schedule spans 4), capped by Epochs 4");
        Assert.IsTrue(more);
        Assert.AreEqual(4, plan.Epochs);

        var tight = new EpochPlan(TimeSpan.FromSeconds(10), () => now, maximum: 100, initial: 100);
        now = TimeSpan.Zero;
        tight.EpochStarting();
        now = TimeSpan.FromSeconds(9);
        StringAssert.EndsWith(tight.EpochEnded(1, out more), "no time for another epoch: training ends after epoch 1");
        Assert.IsFalse(more);
        Assert.AreEqual(1, tight.Epochs);

        var unlimited = new EpochPlan(null, () => now, maximum: 3, initial: 3);
        Assert.IsNull(unlimited.EpochEnded(2, out more));
        Assert.IsTrue(more);
        Assert.IsNull(unlimited.EpochEnded(3, out more));
        Assert.IsFalse(more);
    }

    [TestMethod]
    public void ATimeLimitEndsTheRunEarlyWithTheLearningRateAtTheEndOfItsSchedule()
    {
        var data = Fixtures.Halves(256, seed: 5);
        using var model = Fixtures.TinyResNet(5);
        var lines = new List<string>();
        var limit = TimeSpan.FromSeconds(4);
        var options = new TrainerOptions
        {
            Epochs = 1000,
            BatchSize = 32,
            LearningRate = 0.05,
            Device = ComputeDevice.Cpu,
            Precision = TrainingPrecision.Float32,
            TimeLimit = limit,
        };

        // Anything done once per process (the kernel verdict, the first allocations) happens here, not inside the 4 s.
        using (var warm = Fixtures.TinyResNet(4))
        {
            new ClassifierTrainer(options with { Epochs = 1, TimeLimit = null }).Fit(warm, data);
        }

        var clock = Stopwatch.StartNew();
        var history = new ClassifierTrainer(options, log: lines.Add).Fit(model, data);
        clock.Stop();
        string log = string.Join('\n', lines);

        Assert.IsTrue(history.Count is >= 2 and < 1000, $"{history.Count} epochs in {limit}:\n{log}");
        Assert.AreEqual(history.Count, history[^1].Epochs, "the last epoch is the plan's last");

        // The schedule spanned the epochs that fit: its last rate is near the cosine's end, not the 1000-epoch cosine's
        // early rate (0.05 x 0.99999 and more). One epoch short of the plan (a slow last epoch) would still be under 3 %.
        Assert.IsTrue(history[^1].LearningRate < 0.03 * options.LearningRate, $"last rate {history[^1].LearningRate}:\n{log}");
        Assert.IsTrue(lines.Any(l => l.StartsWith("time limit 4 s: at most 1000 epoch(s)", StringComparison.Ordinal)), log);
        Assert.IsTrue(lines.Any(l => l.Contains("epoch(s) planned", StringComparison.Ordinal)), log);

        // A soft limit: past it by at most about the slowest epoch (plus the final check of the model).
        double slowest = history.Max(m => m.Elapsed.TotalSeconds + (m.ValidationElapsed?.TotalSeconds ?? 0));
        Assert.IsTrue(clock.Elapsed.TotalSeconds < limit.TotalSeconds + slowest + 2, $"took {clock.Elapsed.TotalSeconds:F1} s:\n{log}");
    }

    [TestMethod]
    public void ResumingATimeLimitedRunThatEndedItsPlanTrainsNothingMore()
    {
        var data = Fixtures.Halves(64, seed: 7);
        string directory = Directory.CreateTempSubdirectory("mlnetcnn-time-limit-resume-").FullName;
        try
        {
            var options = new TrainerOptions { Epochs = 1000, BatchSize = 16, LearningRate = 0.05, Device = ComputeDevice.Cpu, Precision = TrainingPrecision.Float32, TimeLimit = TimeSpan.FromSeconds(2), CheckpointDirectory = directory };
            using var model = Fixtures.TinyResNet(7);
            var history = new ClassifierTrainer(options).Fit(model, data);
            Assert.IsTrue(history.Count < 1000);

            // Resumed with the same options: the checkpoint's schedule has ended, so another epoch would restart the rate.
            var lines = new List<string>();
            using var resumed = Fixtures.TinyResNet(8);
            var again = new ClassifierTrainer(options with { Resume = true }, log: lines.Add).Fit(resumed, data);
            Assert.AreEqual(history.Count, again.Count, string.Join('\n', lines));
            Assert.IsTrue(lines.Any(l => l.StartsWith($"the checkpoint's time-limited run had ended its plan of {history.Count} epoch(s): nothing left to train", StringComparison.Ordinal)), string.Join('\n', lines));
            CollectionAssert.AreEqual(Fixtures.State(model), Fixtures.State(resumed), "the checkpoint's weights, untrained");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void AGenerousTimeLimitChangesNothing()
    {
        var data = Fixtures.Halves(96, seed: 6);
        var options = new TrainerOptions { Epochs = 3, BatchSize = 16, LearningRate = 0.05, Device = ComputeDevice.Cpu, Precision = TrainingPrecision.Float32 };
        using var plain = Fixtures.TinyResNet(6);
        var without = new ClassifierTrainer(options).Fit(plain, data);
        using var limited = Fixtures.TinyResNet(6);
        var with = new ClassifierTrainer(options with { TimeLimit = TimeSpan.FromHours(1) }).Fit(limited, data);

        CollectionAssert.AreEqual(without.Select(m => (m.Epochs, m.LearningRate)).ToArray(), with.Select(m => (m.Epochs, m.LearningRate)).ToArray());
        CollectionAssert.AreEqual(Fixtures.State(plain), Fixtures.State(limited), "the same steps at the same rates");
    }

    [TestMethod]
    public void ATimeLimitMustBePositive()
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TrainerOptions { TimeLimit = TimeSpan.Zero }.Validate());
        Assert.AreEqual(nameof(TrainerOptions.TimeLimit), e.ParamName);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TrainerOptions { TimeLimit = TimeSpan.FromSeconds(-1) }.Validate());
    }

    [TestMethod]
    [DataRow("90s", 90.0)]
    [DataRow("29m", 1740.0)]
    [DataRow("29m30s", 1770.0)]
    [DataRow("1h30m", 5400.0)]
    [DataRow("1.5h", 5400.0)]
    [DataRow(" 2m ", 120.0)]
    public void DurationsReadAsCommandLinesWriteThem(string text, double seconds) =>
        Assert.AreEqual(seconds, DurationText.Parse(text).TotalSeconds, 1e-9);

    [TestMethod]
    [DataRow("")]
    [DataRow("10")]
    [DataRow("m")]
    [DataRow("-5m")]
    [DataRow("0s")]
    [DataRow("5 m")]
    [DataRow("30s5m")]
    [DataRow("1e3s")]
    [DataRow("99999999999999h")]
    public void ADurationThatIsNotOneIsRefusedWithTheSyntax(string text)
    {
        var e = Assert.ThrowsExactly<FormatException>(() => DurationText.Parse(text));
        StringAssert.Contains(e.Message, $"'{text}'");
    }
}
