using Microsoft.Extensions.Configuration;
using Microsoft.ML;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators;
using MLNetCnn.Examples.ServingApi;
using MLNetCnn.Serving;

namespace MLNetCnn.ServingApi.Tests;

/// <summary>
/// Found by an outside sweep: a model that <c>mlnetcnn train</c> made from a folder scores an <c>ImagePath</c> column, and
/// the sample refused to start with it, so the CLI's models could not be served. It now scores each posted image from a
/// temporary file of its own: the same probabilities as the model given the file's path.
/// </summary>
[TestClass]
public sealed class PathModelServingTests
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), $"mlnetcnn-path-model-{Environment.ProcessId}");

    [ClassCleanup]
    public static void DeleteFolder()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }

    [TestMethod]
    public async Task AModelTrainedOnImagePathsScoresThePostedBytesAsItScoresTheFile()
    {
        var samples = DemoModelFixture.Samples;
        string data = Path.Combine(Root, "data");
        for (int i = 0; i < samples.Count; i++)
        {
            Directory.CreateDirectory(Path.Combine(data, samples[i].Label.Replace('/', '-')));
            await File.WriteAllBytesAsync(Path.Combine(data, samples[i].Label.Replace('/', '-'), $"{i:D3}.png"), samples[i].Png);
        }

        var ml = new MLContext(seed: 1);
        var folder = ImageFolder.Load(ml, data);
        string zip = Path.Combine(Root, "model.zip");
        using (var trained = ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options
        {
            FeatureColumnName = ImageFolder.ImagePathColumnName,
            ImageShape = new ImageShape(1, 28, 28),
            Arch = "resnet18",
            WidthMultiplier = 0.25,
            Epoch = 1,
            BatchSize = 16,
        }).Fit(folder.Data))
        {
            ml.Model.Save(trained, folder.Data.Schema, zip);
        }

        var before = PostedFolders();
        var service = new ImageClassifierService(zip, ServingSettings.Read(new ConfigurationBuilder().Build()));
        string posted = PostedFolders().Except(before).Single();
        var model = ml.CnnServing().LoadModel(zip, out _);
        try
        {
            var engine = ml.Model.CreatePredictionEngine<ImagePathInput, ImagePrediction>(model);
            CollectionAssert.AreEqual(folder.ClassNames.ToList(), service.ClassNames.ToList());
            foreach (string file in Directory.GetFiles(data, "*.png", SearchOption.AllDirectories).Take(6))
            {
                var response = await service.PredictAsync(await File.ReadAllBytesAsync(file), CancellationToken.None);
                var expected = engine.Predict(new ImagePathInput { ImagePath = file });
                CollectionAssert.AreEqual(expected.Score, response.Scores.Select(s => s.Probability).ToArray(), file);
                Assert.AreEqual(service.ClassNames[(int)expected.PredictedLabel - 1], response.Label);
            }

            // A bad body is the decoder's error, naming the body rather than the server's file; no file is left behind.
            byte[] cut = samples[0].Png[..60];
            var error = await Assert.ThrowsExactlyAsync<InvalidDataException>(() => service.PredictAsync(cut, CancellationToken.None));
            StringAssert.Contains(error.Message, "(the request body, 60 bytes)");
            Assert.IsFalse(error.Message.Contains(posted, StringComparison.Ordinal), error.Message);
            Assert.AreEqual(0, Directory.GetFiles(posted).Length);
        }
        finally
        {
            (model as IDisposable)?.Dispose();
            service.Dispose();
        }

        Assert.IsFalse(Directory.Exists(posted), "Dispose deletes the folder of posted images");
    }

    private static List<string> PostedFolders() => Directory.GetDirectories(Path.GetTempPath(), "mlnetcnn-posted-images-*").ToList();
}
