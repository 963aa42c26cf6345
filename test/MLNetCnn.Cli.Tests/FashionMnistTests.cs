using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Estimators.Data;
using SkiaSharp;

namespace MLNetCnn.Cli.Tests;

/// <summary><c>train --data fashion-mnist-embedded</c> (pixel vectors, not files) and <c>predict</c> of PNG files with that pixel model.</summary>
[TestClass]
public sealed class FashionMnistTests
{
    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    public void TrainsOnTheEmbeddedSubsetAndPredictsPngFilesWithThePixelModel()
    {
        string output = Cli.TempFolder("fashion-run");
        var train = Cli.Run("train", "--data", "fashion-mnist-embedded", "--output", output, "--epochs", "1", "--width", "0.25", "--batch", "32", "--limit", "600");
        Assert.AreEqual(0, train.ExitCode, train.ToString());
        foreach (string file in new[] { "model.zip", "model.onnx", "metrics.json", "loss.png", "accuracy.png", "confusion.png", "report.html" })
        {
            Assert.IsTrue(File.Exists(Path.Combine(output, file)), $"{file} missing\n{train}");
        }

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var data = json.RootElement.GetProperty("data");
        Assert.AreEqual(600, data.GetProperty("trainImages").GetInt32());
        Assert.AreEqual(600, data.GetProperty("heldOutImages").GetInt32());
        StringAssert.Contains(data.GetProperty("description").GetString(), "embedded");
        Assert.AreEqual(1, json.RootElement.GetProperty("epochs").GetArrayLength());
        Assert.AreEqual(10, json.RootElement.GetProperty("final").GetProperty("perClass").GetArrayLength());
        Assert.IsTrue(json.RootElement.GetProperty("final").GetProperty("accuracy").GetDouble() > 0.2, "one epoch on 600 images beats chance (10 %)");

        // The model takes 784 pixels, so predict decodes each file, resizes it to 28 x 28 and makes it grey.
        string images = Cli.TempFolder("fashion-pngs");
        var written = WriteTestImages(images, count: 20);
        var predictions = Cli.Predictions(Cli.Run("predict", "--model", Path.Combine(output, "model.zip"), images));
        Assert.AreEqual(20, predictions.Count);
        Assert.IsTrue(predictions.All(p => FashionMnist.ClassNames.Contains(p.Label)), string.Join('\n', predictions));
        int right = predictions.Count(p => written[Path.GetFileName(p.Path)] == p.Label);
        Assert.IsTrue(right >= 6, $"{right} of 20 right (chance 2)\n{string.Join('\n', predictions)}");
    }

    /// <summary>Writes embedded test images as PNG files (every other one at twice the size) and returns file name to class.</summary>
    private static Dictionary<string, string> WriteTestImages(string folder, int count)
    {
        var ml = new MLContext();
        var test = FashionMnist.Load(ml, FashionMnistSplit.Test, FashionMnistSource.Embedded);
        var labels = test.GetColumn<uint>("Label").Take(count).ToList();
        var pixels = test.GetColumn<float[]>("Features").Take(count).ToList();
        var written = new Dictionary<string, string>();
        for (int i = 0; i < count; i++)
        {
            using var small = new SKBitmap(28, 28, SKColorType.Gray8, SKAlphaType.Opaque);
            var bytes = pixels[i].Select(v => (byte)v).ToArray();
            System.Runtime.InteropServices.Marshal.Copy(bytes, 0, small.GetPixels(), bytes.Length);
            using var image = i % 2 == 0 ? small.Copy() : small.Resize(new SKImageInfo(56, 56, SKColorType.Gray8, SKAlphaType.Opaque), SKFilterQuality.Medium);
            string name = $"test-{i:D2}.png";
            using var png = image.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.Combine(folder, name), png.ToArray());
            written[name] = FashionMnist.ClassNames[(int)labels[i] - 1];
        }

        return written;
    }
}
