using MLNetCnn.Cli.Commands;

namespace MLNetCnn.Cli.Tests;

/// <summary>
/// <c>train</c> warns when it makes too few steps for batch normalization's running statistics to settle. Found by an
/// outside sweep: 48 photos at the default batch of 64 were 97.9 % right in training and 41.7 % held out, with no word why.
/// </summary>
[TestClass]
public sealed class FewStepsWarningTests
{
    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    public void TrainSaysWhenItMakesTooFewStepsAndWhatToChange()
    {
        string data = Cli.TempFolder("few-steps");
        GeneratedImages.Write(data, perClass: 4, seed: 3);
        var result = Cli.Run("train", "--data", data, "--output", Cli.TempFolder("few-steps-run"), "--epochs", "1", "--image-size", "8", "--width", "0.25", "--batch", "4", "--validation-fraction", "0.25");
        Assert.AreEqual(0, result.ExitCode, result.ToString());

        // 4 + 4 + 1 images: the last batch, of one image, is left out.
        StringAssert.Contains(result.Output, "warning: 9 training images at batch 4 make 2 steps in 1 epoch. After so few, the running statistics of batch normalization, which the saved model scores with, still hold 81 % of their starting values", result.ToString());
        StringAssert.Contains(result.Output, "lower --batch or raise --epochs to make at least 15 steps.", result.ToString());
    }

    [TestMethod]
    public void EnoughStepsGiveNoWarning()
    {
        Assert.IsNotNull(TrainingData.FewStepsWarning(images: 48, batch: 64, epochs: 8));
        Assert.IsNull(TrainingData.FewStepsWarning(images: 48, batch: 8, epochs: 8));
        Assert.IsNull(TrainingData.FewStepsWarning(images: 66, batch: 64, epochs: 8), "2 steps an epoch");
        StringAssert.Contains(TrainingData.FewStepsWarning(images: 65, batch: 64, epochs: 8), "make 8 steps", "the last batch, of one image, is left out");
    }
}
