namespace MLNetCnn.Cli.Tests;

/// <summary>
/// Ctrl+C during <c>train</c>: the tool's SIGINT handler (Program.cs) cancels the token passed here; reading the data or
/// training stops (training after the current step), nothing is written, exit code 130. A token cancelled before the run
/// stops it while the images are read, and the message says so.
/// </summary>
[TestClass]
public sealed class CancellationTests
{
    private static readonly string[] LongRun = ["train", "--data", "fashion-mnist-embedded", "--epochs", "30", "--width", "0.25", "--batch", "16", "--limit", "2000"];

    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    public void ACancelledRunExitsWith130AndWritesNoModel()
    {
        string output = Cli.TempFolder("cancelled-in-process");
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        var result = Cli.Run(cancellation.Token, [.. LongRun, "--output", output]);
        Assert.AreEqual(CliApp.Cancelled, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "mlnetcnn train: cancelled. Reading the training data was cancelled after 0 of 2000 rows, before training started. Nothing was written.", result.ToString());
        Assert.IsFalse(File.Exists(Path.Combine(output, "model.zip")), result.ToString());
    }
}
