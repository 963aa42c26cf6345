using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;
using SkiaSharp;

namespace MLNetCnn.Cli.Tests;

/// <summary><c>train --data fashion-mnist-embedded</c> (pixel vectors, not files) and <c>predict</c> of PNG files with that pixel model.</summary>
/// <remarks>The settings are ones whose accuracy varies little with the seed. (Same-seed runs in different processes also differed until the epoch shuffle stopped using the per-process-randomized HashCode.)</remarks>
[TestClass]
public sealed class FashionMnistTests
{
    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    public void TrainsOnTheEmbeddedSubsetAndPredictsPngFilesWithThePixelModel()
    {
        string output = Cli.TempFolder("fashion-run");
        // Past 922 images the first report of the read overflowed its time estimate, and the README's command failed.
        var train = Cli.Run("train", "--data", "fashion-mnist-embedded", "--output", output, "--epochs", "1", "--width", "0.25", "--batch", "16", "--lr", "0.02", "--limit", "1000");
        Assert.AreEqual(0, train.ExitCode, train.ToString());
        foreach (string file in new[] { "model.zip", "model.onnx", "metrics.json", "loss.png", "accuracy.png", "confusion.png", "report.html" })
        {
            Assert.IsTrue(File.Exists(Path.Combine(output, file)), $"{file} missing\n{train}");
        }

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var data = json.RootElement.GetProperty("data");
        Assert.AreEqual(1000, data.GetProperty("trainImages").GetInt32());
        Assert.AreEqual(1000, data.GetProperty("heldOutImages").GetInt32());
        StringAssert.Contains(data.GetProperty("description").GetString(), "embedded");
        Assert.AreEqual(1, json.RootElement.GetProperty("epochs").GetArrayLength());
        Assert.AreEqual(10, json.RootElement.GetProperty("final").GetProperty("perClass").GetArrayLength());
        Assert.IsTrue(json.RootElement.GetProperty("final").GetProperty("accuracy").GetDouble() > 0.2, "one epoch on 1,000 images beats chance (10 %)");

        // The model takes 784 pixels, so predict decodes each file, resizes it to 28 x 28 and makes it grey:
        // a 28 x 28 PNG of a test image gets the label the model gives that image's own pixels.
        var ml = new MLContext();
        var test = ml.Data.TakeRows(FashionMnist.Load(ml, FashionMnistSplit.Test, FashionMnistSource.Embedded), 20);
        var model = ml.Cnn().LoadModel(Path.Combine(output, "model.zip"), out _);
        var expected = model.Transform(test).GetColumn<float[]>("Score").Select(s => FashionMnist.ClassNames[Array.IndexOf(s, s.Max())]).ToList();
        string images = Cli.TempFolder("fashion-pngs");
        WritePngs(images, test.GetColumn<float[]>("Features").ToList());
        var predictions = Cli.Predictions(Cli.Run("predict", "--model", Path.Combine(output, "model.zip"), images));
        Assert.AreEqual(20, predictions.Count);
        Assert.IsTrue(predictions.All(p => FashionMnist.ClassNames.Contains(p.Label)), string.Join('\n', predictions));
        for (int i = 0; i < 20; i += 2)
        {
            Assert.AreEqual(expected[i], predictions.Single(p => Path.GetFileName(p.Path) == $"test-{i:D2}.png").Label, $"image {i}\n{string.Join('\n', predictions)}");
        }
    }

    [TestMethod]
    public void AugmentAndTestTimeFlipReachTheTrainerTheReportAndTheSavedModel()
    {
        string output = Cli.TempFolder("fashion-augment");
        var train = Cli.Run("train", "--data", "fashion-mnist-embedded", "--output", output, "--epochs", "1", "--width", "0.25", "--batch", "16", "--limit", "200", "--augment", "flip,shift=3", "--test-time-flip");
        Assert.AreEqual(0, train.ExitCode, train.ToString());
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var settings = json.RootElement.GetProperty("settings");
        Assert.AreEqual("flip=0.5,shift=3", settings.GetProperty("augmentation").GetString());
        Assert.IsTrue(settings.GetProperty("testTimeFlip").GetBoolean());
        StringAssert.Contains(File.ReadAllText(Path.Combine(output, "report.html")), "test-time flip");

        // The saved model scores the mean of an image and its mirror, so an image and its mirror get the same scores
        // (a model without the flip, trained for one epoch, is far from mirror-symmetric).
        var ml = new MLContext();
        var model = ml.Cnn().LoadModel(Path.Combine(output, "model.zip"), out _);
        var rows = ml.Data.TakeRows(FashionMnist.Load(ml, FashionMnistSplit.Test, FashionMnistSource.Embedded), 4).GetColumn<float[]>("Features").Select(f => new Pixels { Features = f }).ToList();
        var mirrored = rows.Select(r => new Pixels { Features = Enumerable.Range(0, 784).Select(i => r.Features[(i / 28 * 28) + 27 - (i % 28)]).ToArray() }).ToList();
        var scores = model.Transform(ml.Data.LoadFromEnumerable(rows.Concat(mirrored))).GetColumn<float[]>("Score").ToList();
        for (int i = 0; i < rows.Count; i++)
        {
            for (int k = 0; k < 10; k++)
            {
                Assert.AreEqual(scores[i][k], scores[i + rows.Count][k], 1e-5, $"image {i}, class {k}");
            }
        }
    }

    [TestMethod]
    public void ATimeLimitEndsTrainingAndTheReportSaysSo()
    {
        string output = Cli.TempFolder("fashion-time-limit");
        var train = Cli.Run("train", "--data", "fashion-mnist-embedded", "--output", output, "--epochs", "1000", "--width", "0.25", "--batch", "32", "--limit", "100", "--time-limit", "6s");
        Assert.AreEqual(0, train.ExitCode, train.ToString());
        StringAssert.Contains(train.Output, "for about 0:06 (at most 1000 epochs)", train.ToString());
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        Assert.AreEqual(6, json.RootElement.GetProperty("settings").GetProperty("timeLimitSeconds").GetDouble());
        var epochs = json.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        Assert.IsTrue(epochs.Count is >= 1 and < 1000, train.ToString());
        StringAssert.Contains(File.ReadAllText(Path.Combine(output, "report.html")), $"{epochs.Count} epochs (time limit 6 s, at most 1000)");
    }

    private sealed class Pixels
    {
        [VectorType(784)]
        public float[] Features { get; set; } = [];
    }

    /// <summary>Writes grey images as PNG files test-NN.png, the odd ones at twice the size.</summary>
    private static void WritePngs(string folder, IReadOnlyList<float[]> pixels)
    {
        for (int i = 0; i < pixels.Count; i++)
        {
            using var small = new SKBitmap(28, 28, SKColorType.Gray8, SKAlphaType.Opaque);
            var bytes = pixels[i].Select(v => (byte)v).ToArray();
            System.Runtime.InteropServices.Marshal.Copy(bytes, 0, small.GetPixels(), bytes.Length);
            using var image = i % 2 == 0 ? small.Copy() : small.Resize(new SKImageInfo(56, 56, SKColorType.Gray8, SKAlphaType.Opaque), SKFilterQuality.Medium);
            using var png = image.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.Combine(folder, $"test-{i:D2}.png"), png.ToArray());
        }
    }
}
