using Microsoft.ML;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators;
using MLNetCnn.Serving;

namespace MLNetCnn.Cli.Tests;

/// <summary><c>predict</c> and <c>evaluate</c> with a model trained on encoded image bytes (ML.NET's <c>LoadRawImageBytes</c>).</summary>
[TestClass]
public sealed class BytesModelTests
{
    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    public void AFileThatDoesNotDecodeIsSkippedNamingTheFile()
    {
        string data = Cli.TempFolder("bytes-model-data");
        GeneratedImages.Write(data, perClass: 6, seed: 5);
        var ml = new MLContext(seed: 1);
        var folder = ImageFolder.Load(ml, data);
        var bytes = ml.Transforms.LoadRawImageBytes("ImageBytes", null, ImageFolder.ImagePathColumnName).Fit(folder.Data).Transform(folder.Data);
        string zip = Path.Combine(Cli.TempFolder("bytes-model"), "model.zip");
        using (var model = ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options
        {
            FeatureColumnName = "ImageBytes",
            ImageShape = new ImageShape(3, 16, 16),
            Arch = "resnet18",
            WidthMultiplier = 0.25,
            Epoch = 1,
            BatchSize = 8,
        }).Fit(bytes))
        {
            ml.Model.Save(model, bytes.Schema, zip);
        }

        string bad = Path.Combine(data, "discs", "cut.png");
        File.WriteAllBytes(bad, File.ReadAllBytes(Directory.GetFiles(Path.Combine(data, "discs"))[0])[..40]);

        // Before: "Could not find input column 'ImageBytes'" (the saved schema's ImagePath column was bound), and once
        // past that, "skipped: The encoded image (40 bytes) ..." without the file. A skipped file makes the exit code 1.
        var predicted = Cli.Run("predict", "--model", zip, Path.Combine(data, "discs"));
        Assert.AreEqual(1, predicted.ExitCode, predicted.ToString());
        Assert.HasCount(6, Cli.Predictions(predicted with { ExitCode = 0 }), "the six images that decode are predicted");
        StringAssert.Contains(predicted.Error, $"skipped: '{bad}': The encoded image (40 bytes) is not a decodable image", predicted.ToString());

        var evaluated = Cli.Run("evaluate", "--model", zip, "--data", data);
        Assert.AreEqual(1, evaluated.ExitCode, evaluated.ToString());
        StringAssert.StartsWith(evaluated.Output, "Accuracy ", evaluated.ToString());
        StringAssert.Contains(evaluated.Output, "on 18 images", evaluated.ToString());
        StringAssert.Contains(evaluated.Error, $"'{bad}'", evaluated.ToString());
    }

    /// <summary>
    /// ML.NET's tutorial layout: the bytes read outside the model (<c>LoadRawImageBytes</c> over <c>ImagePath</c>), the
    /// text label keyed inside it. No column scores alone, so the command took <c>ImagePath</c> and failed; the bytes column
    /// scores with a default label beside it.
    /// </summary>
    [TestMethod]
    public void ABytesModelThatReadsItsLabelScoresEachFile()
    {
        string data = Cli.TempFolder("bytes-label-data");
        GeneratedImages.Write(data, perClass: 6, seed: 7);
        var ml = new MLContext(seed: 1);
        var folder = ImageFolder.Load(ml, data);
        var texts = ml.Transforms.Conversion.MapKeyToValue("Label").Fit(folder.Data).Transform(folder.Data);
        var bytes = ml.Transforms.LoadRawImageBytes("ImageBytes", null, ImageFolder.ImagePathColumnName).Fit(texts).Transform(texts);
        string zip = Path.Combine(Cli.TempFolder("bytes-label-model"), "model.zip");
        var model = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options
        {
            FeatureColumnName = "ImageBytes",
            ImageShape = new ImageShape(3, 16, 16),
            Arch = "resnet18",
            WidthMultiplier = 0.25,
            Epoch = 1,
            BatchSize = 8,
        })).Fit(bytes);
        ml.Model.Save(model, bytes.Schema, zip);
        (model.LastTransformer as IDisposable)?.Dispose();

        var predicted = Cli.Run("predict", "--model", zip, Path.Combine(data, "discs"));
        Assert.AreEqual(0, predicted.ExitCode, predicted.ToString());
        Assert.HasCount(6, Cli.Predictions(predicted), predicted.ToString());
    }
}
