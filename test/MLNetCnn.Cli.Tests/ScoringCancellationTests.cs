using Microsoft.ML;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Cli.Commands;
using MLNetCnn.Cli.Output;
using MLNetCnn.Estimators;
using MLNetCnn.Serving;

namespace MLNetCnn.Cli.Tests;

/// <summary>
/// Ctrl+C (the token the tool's SIGINT handler cancels) while files are checked or scored one at a time. Found by an
/// outside sweep: <c>evaluate</c> on 300 photos printed "stopping after the current step", scored for 126 s more and
/// exited 0 with the figures; <c>train</c> went on checking every file of its folder before it stopped.
/// </summary>
[TestClass]
public sealed class ScoringCancellationTests
{
    private static string _images = string.Empty;
    private static string _model = string.Empty;

    [ClassInitialize]
    public static void TrainOnce(TestContext context)
    {
        _images = Cli.TempFolder("cancel-scoring-data");
        GeneratedImages.Write(_images, perClass: 4, seed: 11);
        var ml = new MLContext(seed: 1);
        var folder = ImageFolder.Load(ml, _images);
        _model = Path.Combine(Cli.TempFolder("cancel-scoring-model"), "model.zip");
        using var model = ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options
        {
            FeatureColumnName = ImageFolder.ImagePathColumnName,
            ImageShape = new ImageShape(3, 16, 16),
            Arch = "resnet18",
            WidthMultiplier = 0.25,
            Epoch = 1,
            BatchSize = 4,
        }).Fit(folder.Data);
        ml.Model.Save(model, folder.Data.Schema, _model);
    }

    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    public void PredictStopsBeforeTheNextFileAndExitsWith130()
    {
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        var result = Cli.Run(cancellation.Token, "predict", "--model", _model, _images);

        // Before: exit 0 and a line for each of the 12 files.
        Assert.AreEqual(CliApp.Cancelled, result.ExitCode, result.ToString());
        Assert.AreEqual(string.Empty, result.Output, result.ToString());
        StringAssert.Contains(result.Error, "mlnetcnn predict: cancelled. Scoring was cancelled after 0 of 12 images.", result.ToString());
        Assert.DoesNotContain("Nothing was written", result.Error, "predict writes no file; the words are train's");
    }

    [TestMethod]
    public void EvaluateStopsWhileCheckingTheFolder()
    {
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        var result = Cli.Run(cancellation.Token, "evaluate", "--model", _model, "--data", _images);

        // Before: every file checked and scored, exit 0 and the figures.
        Assert.AreEqual(CliApp.Cancelled, result.ExitCode, result.ToString());
        Assert.AreEqual(string.Empty, result.Output, result.ToString());
        StringAssert.Contains(result.Error, "mlnetcnn evaluate: cancelled. Checking the image files was cancelled after 0 of 12.", result.ToString());
    }

    [TestMethod]
    public void EvaluationStopsBetweenFilesWhenCancelledWhileScoring()
    {
        using var cancellation = new CancellationTokenSource();
        int scored = 0;
        var scorer = new FileScorer(["a", "b"], _ =>
        {
            if (++scored == 2)
            {
                cancellation.Cancel(); // Ctrl+C while the second file scores
            }

            return [0.9f, 0.1f];
        });
        using var error = new StringWriter();
        var images = new LabelledImages(["1", "2", "3", "4", "5"], ["a", "a", "b", "b", "b"], [], []);

        var e = Assert.ThrowsExactly<OperationCanceledException>(() => Evaluation.Run(new MLContext(seed: 1), scorer, images, ProgressDisplay.For(error), error, "evaluate", "test", cancellation.Token));
        Assert.AreEqual("Scoring was cancelled after 2 of 5 images.", e.Message);
        Assert.AreEqual(2, scored, "the files after the cancellation are not scored");
    }

    [TestMethod]
    public void TheCancelMessageDoesNotCountSkippedFilesAsScored()
    {
        using var cancellation = new CancellationTokenSource();
        var scorer = new FileScorer(["a", "b"], file => file switch
        {
            "2" => throw new InvalidDataException("The image '2' is not a decodable image."),
            "3" => Cancelling(cancellation),
            _ => [0.9f, 0.1f],
        });
        using var error = new StringWriter();
        var images = new LabelledImages(["1", "2", "3", "4", "5"], ["a", "a", "b", "b", "b"], [], []);

        // Before: "after 3 of 5 images", counting the skipped file '2' as scored.
        var e = Assert.ThrowsExactly<OperationCanceledException>(() => Evaluation.Run(new MLContext(seed: 1), scorer, images, ProgressDisplay.For(error), error, "evaluate", "test", cancellation.Token));
        Assert.AreEqual("Scoring was cancelled after 2 of 5 images were scored and 1 skipped.", e.Message);
    }

    private static float[] Cancelling(CancellationTokenSource cancellation)
    {
        cancellation.Cancel(); // Ctrl+C while this file scores
        return [0.2f, 0.8f];
    }

    [TestMethod]
    public void TrainStopsWhileCheckingTheFolder()
    {
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        string output = Cli.TempFolder("cancel-scoring-train");
        var result = Cli.Run(cancellation.Token, "train", "--data", _images, "--output", output, "--epochs", "1", "--image-size", "16", "--width", "0.25");

        // Before: every file was checked, then training stopped "after 0 of 9 rows" of the training data.
        Assert.AreEqual(CliApp.Cancelled, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "mlnetcnn train: cancelled. Checking the image files was cancelled after 0 of 12. Nothing was written.", result.ToString());
        Assert.IsFalse(File.Exists(Path.Combine(output, "model.zip")), result.ToString());
    }
}
