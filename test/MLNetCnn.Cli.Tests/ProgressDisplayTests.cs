using MLNetCnn.Cli.Output;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Cli.Tests;

/// <summary>What the progress lines say while the figures behind them are still settling.</summary>
[TestClass]
public sealed class ProgressDisplayTests
{
    [TestMethod]
    public void TheTimeLeftWaitsForTwoPercentOfTheWork()
    {
        // Found on the full Fashion-MNIST set: its first image, read after the sample's shuffle, gave "1 img/s, ETA 5:31:06"
        // for a read of 10,000 images that was over within seconds.
        using var output = new StringWriter();
        var display = new ProgressDisplay(output, interactive: false, TimeSpan.Zero);
        display.Scoring(1, 10_000, TimeSpan.FromSeconds(1));
        display.Scoring(199, 10_000, TimeSpan.FromSeconds(2));
        display.Scoring(200, 10_000, TimeSpan.FromSeconds(2));
        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

        CollectionAssert.AreEqual(
            new[]
            {
                "scoring images: 1/10,000, 1 img/s, ETA ?",
                "scoring images: 199/10,000, 100 img/s, ETA ?",
                "scoring images: 200/10,000, 100 img/s, ETA 1:38",
            },
            lines);
    }

    [TestMethod]
    public void UnderATimeLimitTheRunsTimeLeftIsAtMostTheLimitsTimeLeft()
    {
        // Before the first epoch is timed the plan is --epochs, here 1000: the run's estimate alone said 166 hours.
        using var output = new StringWriter();
        var display = new ProgressDisplay(output, interactive: false, TimeSpan.Zero);
        var progress = new TrainingProgress(1, 1000, 6_000, 60_000, 0.5, 100, TimeSpan.FromSeconds(540));
        display.Training(progress, validationFollows: false);
        display.Training(progress with { TimeLimitRemaining = TimeSpan.FromMinutes(20) }, validationFollows: false);
        display.Training(progress with { TimeLimitRemaining = TimeSpan.FromMinutes(2) }, validationFollows: false);
        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

        Assert.AreEqual(3, lines.Length, output.ToString());
        StringAssert.EndsWith(lines[0], "ETA 9:00 (run ~166:39:00)");
        StringAssert.EndsWith(lines[1], "ETA 9:00 (run ~20:00)");
        StringAssert.EndsWith(lines[2], "ETA 9:00 (run ~9:00)", "at least one epoch runs, whatever the limit says");
    }
}
