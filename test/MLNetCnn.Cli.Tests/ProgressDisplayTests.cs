using MLNetCnn.Cli.Output;

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
}
