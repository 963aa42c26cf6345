using MLNetCnn.Serving;
using SkiaSharp;

namespace MLNetCnn.Cli.Tests;

/// <summary>
/// <c>--max-image-pixels</c> sets the decode limit for one run of <c>train</c>, <c>predict</c> or <c>evaluate</c>, and a
/// run that skipped images over the limit says how to read them. Found by an outside sweep: a 48-megapixel photo was
/// skipped with a message naming <c>ImageDecodeLimit.Current</c>, which the tool gave no way to set.
/// </summary>
[TestClass]
public sealed class DecodeLimitOptionTests
{
    private static string _images = string.Empty;
    private static string _large = string.Empty;
    private static string _model = string.Empty;
    private static CliResult _train = new(-1, string.Empty, string.Empty);

    [ClassInitialize]
    public static void TrainOnce(TestContext context)
    {
        _images = Cli.TempFolder("decode-limit");
        GeneratedImages.Write(_images, perClass: 4, seed: 11);
        _large = Path.Combine(_images, "discs", "large.png");
        using (var bitmap = new SKBitmap(60, 60))
        {
            bitmap.Erase(SKColors.Blue);
            using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(_large, png.ToArray()); // 3,600 pixels; the generated images have at most 1,600
        }

        string output = Cli.TempFolder("decode-limit-run");
        _model = Path.Combine(output, "model.zip");
        _train = Cli.Run("train", "--data", _images, "--output", output, "--epochs", "1", "--image-size", "8", "--width", "0.25", "--batch", "4", "--max-image-pixels", "2000");
    }

    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    public void TrainSkipsAnImageOverTheLimitGivenAndSaysHowToReadIt()
    {
        Assert.AreEqual(0, _train.ExitCode, _train.ToString());
        StringAssert.Contains(_train.Output, "large.png' declares 60 x 60 = 3,600 pixels: over the decode limit of 2,000 pixels", _train.ToString());
        StringAssert.Contains(_train.Output, "1 image was skipped for being over the decode limit of 2,000 pixels; give --max-image-pixels with a larger number to read it.", _train.ToString());
        Assert.AreEqual(ImageDecodeLimit.DefaultMaxPixels, ImageDecodeLimit.Current.MaxPixels, "the limit is the run's alone");
    }

    [TestMethod]
    public void PredictAndEvaluateReadTheImageOnceTheLimitIsRaised()
    {
        var refused = Cli.Run("predict", "--model", _model, "--max-image-pixels", "2000", _large);
        Assert.AreEqual(1, refused.ExitCode, refused.ToString());
        StringAssert.Contains(refused.Error, "1 image was skipped for being over the decode limit of 2,000 pixels; give --max-image-pixels", refused.ToString());

        var read = Cli.Predictions(Cli.Run("predict", "--model", _model, "--max-image-pixels", "3600", _large));
        Assert.AreEqual(_large, read.Single().Path);

        var evaluated = Cli.Run("evaluate", "--model", _model, "--data", _images, "--max-image-pixels", "2000");
        Assert.AreEqual(1, evaluated.ExitCode, evaluated.ToString());
        StringAssert.Contains(evaluated.Error, "1 image was skipped for being over the decode limit of 2,000 pixels", evaluated.ToString());
        Assert.AreEqual(0, Cli.Run("evaluate", "--model", _model, "--data", _images).ExitCode);
        Assert.AreEqual(ImageDecodeLimit.DefaultMaxPixels, ImageDecodeLimit.Current.MaxPixels, "the limit is the run's alone");
    }
}
