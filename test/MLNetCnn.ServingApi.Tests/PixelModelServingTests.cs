using Microsoft.Extensions.Configuration;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Families;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Examples.ServingApi;
using MLNetCnn.Serving;

namespace MLNetCnn.ServingApi.Tests;

/// <summary>
/// A model trained on pixel vectors, as the README's first pipeline and <c>mlnetcnn train --data fashion-mnist</c> make
/// it, was refused by the sample ("this service posts encoded image bytes"): the README's models could not be served.
/// Each posted image is now decoded, resized and made grey in front of it (<c>WithImageBytesInput</c>).
/// </summary>
[TestClass]
public sealed class PixelModelServingTests
{
    private static readonly string Root = Directory.CreateTempSubdirectory("mlnetcnn-pixel-model-").FullName;

    [ClassCleanup]
    public static void DeleteFolder() => Directory.Delete(Root, recursive: true);

    /// <summary>
    /// The posted image reaches the model in the units it was trained on: 0..255, or 0..1 (pixels pre-scaled, as
    /// <c>ExtractPixels(scaleImage: 1f / 255)</c> and many CSV copies of Fashion-MNIST give them). Before, a model trained
    /// on 0..1 was given 0..255 and scored every upload wrongly without a word.
    /// </summary>
    [TestMethod]
    [DataRow(1f, DisplayName = "trained on 0..255")]
    [DataRow(1f / 255, DisplayName = "trained on 0..1")]
    public async Task AModelTrainedOnPixelVectorsScoresThePostedImageAsItsOwnPixels(float units)
    {
        var ml = new MLContext(seed: 1);
        string zip = Train(ml, units, 0f, $"model-{units:R}.zip");
        using var service = new ImageClassifierService(zip, ServingSettings.Read(new ConfigurationBuilder().Build()));
        CollectionAssert.AreEqual(FashionMnist.ClassNames.ToList(), service.ClassNames.ToList());
        var model = ml.CnnServing().LoadModel(zip, out _);
        try
        {
            var engine = ml.Model.CreatePredictionEngine<PixelRow, ImagePrediction>(model);
            foreach (var (png, label) in DemoModelFixture.Samples.Take(6))
            {
                // The reference: the PNG's own grey values, in the training units, given to the model as the pixel vector it was trained on.
                string file = Path.Combine(Root, "sample.png");
                await File.WriteAllBytesAsync(file, png);
                using var image = ImageDecoding.DecodeFile(file);
                var bgra = image.Pixels.ToArray();
                var pixels = Enumerable.Range(0, 28 * 28).Select(i => bgra[(4 * i) + 2] * units).ToArray();
                var expected = engine.Predict(new PixelRow { Features = pixels });

                var response = await service.PredictAsync(png, CancellationToken.None);
                var scores = response.Scores.Select(s => s.Probability).ToArray();
                Assert.HasCount(10, scores);
                for (int k = 0; k < 10; k++)
                {
                    Assert.AreEqual(expected.Score[k], scores[k], 1e-3, $"class {k} of a {label}");
                }

                Assert.AreEqual(service.ClassNames[(int)expected.PredictedLabel - 1], response.Label);
            }
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// ML.NET's usual pipeline on a CSV of pixels (Kaggle's Fashion-MNIST): <c>MapValueToKey("Label")</c> in front of the
    /// trainer, so the saved model reads its label. The service gives it a default label, which does not change the scores;
    /// before, it stopped at start with "Could not find input column 'Label'".
    /// </summary>
    [TestMethod]
    public async Task AModelWhoseChainReadsItsLabelIsServedAndScoresAsThePipelineDoes()
    {
        var ml = new MLContext(seed: 1);
        var keyed = ml.Data.TakeRows(FashionMnist.Load(ml, FashionMnistSplit.Train, FashionMnistSource.Embedded), 128);
        var csv = ml.Transforms.Conversion.MapKeyToValue("Label").Fit(keyed).Transform(keyed); // text labels, as a CSV has them
        string zip = Path.Combine(Root, "model-label-step.zip");
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.Cnn().ImageClassification(SmallModel));
        var model = pipeline.Fit(csv);
        try
        {
            ml.Model.Save(model, csv.Schema, zip);
            var engine = ml.Model.CreatePredictionEngine<LabelledPixelRow, ImagePrediction>(model);
            using var service = new ImageClassifierService(zip, ServingSettings.Read(new ConfigurationBuilder().Build()));
            var (png, label) = DemoModelFixture.Samples[1];
            string file = Path.Combine(Root, "label-step-sample.png");
            await File.WriteAllBytesAsync(file, png);
            using var image = ImageDecoding.DecodeFile(file);
            var bgra = image.Pixels.ToArray();
            var expected = engine.Predict(new LabelledPixelRow { Label = "anything", Features = Enumerable.Range(0, 28 * 28).Select(i => (float)bgra[(4 * i) + 2]).ToArray() });

            var response = await service.PredictAsync(png, CancellationToken.None);
            var scores = response.Scores.Select(s => s.Probability).ToArray();
            Assert.HasCount(10, scores);
            for (int k = 0; k < 10; k++)
            {
                Assert.AreEqual(expected.Score[k], scores[k], 1e-3, $"class {k} of a {label}");
            }
        }
        finally
        {
            (model.LastTransformer as IDisposable)?.Dispose();
        }
    }

    /// <summary>Pixels in units no scale of 0..255 makes (here -1..1) cannot be built from an image: refused, naming the range.</summary>
    [TestMethod]
    public void AModelTrainedOnPixelsNeitherIn0To255NorIn0To1IsRefusedNamingTheRange()
    {
        var ml = new MLContext(seed: 1);
        string zip = Train(ml, 1f / 127.5f, -1f, "model-signed.zip");
        var model = ml.CnnServing().LoadModel(zip, out var schema);
        try
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => ml.CnnServing().WithImageBytesInput(model, schema));
            StringAssert.Contains(e.Message, "trained on pixel values in 'Features' from -1 to 1, neither 0..255 nor 0..1");
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    /// <summary>A featurizer records its pixel units as a trained model does: one fitted on 0..1 embeds an encoded image as its pixels in 0..1.</summary>
    [TestMethod]
    public async Task AFeaturizerFittedOn0To1PixelsEmbedsAnEncodedImageAsItsPixelsIn0To1()
    {
        var ml = new MLContext(seed: 1);
        var train = Scaled(ml, 1f / 255, 0f, rows: 64);
        using var featurizer = ml.Cnn().ImageFeaturizer(new ImageFeaturizerEstimator.Options
        {
            Architecture = ResNetConfig.ResNet18 with { Width = 0.25 },
            ImageShape = new ImageShape(1, 28, 28),
        }).Fit(train);
        await AssertScoresAnImageAsItsPixelsIn0To1<EmbeddingRow>(ml, featurizer, train.Schema, r => r.Embedding);
    }

    /// <summary>A featurizer made from a classifier trained on 0..1 keeps its units (before, CreateFeaturizer dropped them).</summary>
    [TestMethod]
    public async Task AFeaturizerMadeFromAClassifierTrainedOn0To1EmbedsAnEncodedImageIn0To1()
    {
        var ml = new MLContext(seed: 1);
        var train = Scaled(ml, 1f / 255, 0f, rows: 64);
        using var classifier = ml.Cnn().ImageClassification(SmallModel).Fit(train);
        using var featurizer = classifier.CreateFeaturizer();
        await AssertScoresAnImageAsItsPixelsIn0To1<EmbeddingRow>(ml, featurizer, train.Schema, r => r.Embedding);
    }

    /// <summary>
    /// A trained model in a chain that cannot be saved (an application's CustomMapping without a contract) still gives its
    /// units: before, they were read from the chain as saved, the save failed, and the model was served 0..255.
    /// </summary>
    [TestMethod]
    public async Task AModelInAChainThatCannotBeSavedIsServedInItsUnits()
    {
        var ml = new MLContext(seed: 1);
        var train = Scaled(ml, 1f / 255, 0f, rows: 64);
        using var classifier = ml.Cnn().ImageClassification(SmallModel).Fit(train);
        var unsaveable = ml.Transforms.CustomMapping<PixelRow, PixelRow>((from, to) => to.Features = from.Features, contractName: null).Fit(train);
        var chain = new TransformerChain<ITransformer>(unsaveable, classifier);
        await AssertScoresAnImageAsItsPixelsIn0To1<ScoreRow>(ml, chain, train.Schema, r => r.Score);
    }

    /// <summary>
    /// A model from <c>LoadModel</c> gives the units its graph records without being saved again: inside a chain that
    /// cannot be saved it was served 0..255 before, and a large model was copied to memory once more to read them.
    /// </summary>
    [TestMethod]
    public async Task ALoadedModelInAChainThatCannotBeSavedIsServedInItsUnits()
    {
        var ml = new MLContext(seed: 1);
        string zip = Train(ml, 1f / 255, 0f, "model-loaded-unsaveable.zip");
        var loaded = ml.CnnServing().LoadModel(zip, out var schema);
        try
        {
            var unsaveable = ml.Transforms.CustomMapping<PixelRow, PixelRow>((from, to) => to.Features = from.Features, contractName: null).Fit(Scaled(ml, 1f / 255, 0f, rows: 8));
            await AssertScoresAnImageAsItsPixelsIn0To1<ScoreRow>(ml, new TransformerChain<ITransformer>(unsaveable, loaded), schema!, r => r.Score);
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }
    }

    private static ImageClassificationTrainer.Options SmallModel => new()
    {
        ImageShape = new ImageShape(1, 28, 28),
        Arch = "resnet18",
        WidthMultiplier = 0.25,
        Epoch = 1,
        BatchSize = 32,
    };

    /// <summary>A PNG through <c>WithImageBytesInput</c> gives what <paramref name="model"/> gives its grey values / 255.</summary>
    private static async Task AssertScoresAnImageAsItsPixelsIn0To1<TOutput>(MLContext ml, ITransformer model, DataViewSchema schema, Func<TOutput, float[]> values)
        where TOutput : class, new()
    {
        var served = ml.CnnServing().WithImageBytesInput(model, schema);
        var fromBytes = ml.Model.CreatePredictionEngine<BytesRow, TOutput>(served);
        var fromPixels = ml.Model.CreatePredictionEngine<PixelRow, TOutput>(model);
        var (png, label) = DemoModelFixture.Samples[0];
        string file = Path.Combine(Root, $"sample-{Guid.NewGuid():N}.png");
        await File.WriteAllBytesAsync(file, png);
        using var image = ImageDecoding.DecodeFile(file);
        var bgra = image.Pixels.ToArray();
        var expected = values(fromPixels.Predict(new PixelRow { Features = Enumerable.Range(0, 28 * 28).Select(i => bgra[(4 * i) + 2] / 255f).ToArray() }));
        var actual = values(fromBytes.Predict(new BytesRow { ImageBytes = png }));
        Assert.HasCount(expected.Length, actual);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i], actual[i], 1e-3, $"value {i} of a {label}");
        }
    }

    /// <summary>Trains a small model on 256 embedded Fashion-MNIST images, their pixels p given as p * scale + offset; returns the saved zip.</summary>
    private static string Train(MLContext ml, float scale, float offset, string name)
    {
        var train = Scaled(ml, scale, offset, rows: 256);
        string zip = Path.Combine(Root, name);
        using var trained = ml.Cnn().ImageClassification(SmallModel).Fit(train);
        ml.Model.Save(trained, train.Schema, zip);
        return zip;
    }

    [TestMethod]
    public void AModelWithoutAnImageColumnItCanBuildIsRefusedNamingItsColumns()
    {
        var ml = new MLContext();
        var schema = ml.Data.LoadFromEnumerable(Array.Empty<OddRow>()).Schema;
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.CnnServing().WithImageBytesInput(new TransformerChain<ITransformer>(), schema));
        StringAssert.Contains(e.Message, "no square grey or RGB pixel vector (Vector<Single, C*N*N> with C 1 or 3)");
        StringAssert.Contains(e.Message, "'Features' (Vector<Single, 700>)");
    }

    /// <summary>The first <paramref name="rows"/> embedded Fashion-MNIST training images, their pixels p given as p * scale + offset.</summary>
    private static IDataView Scaled(MLContext ml, float scale, float offset, int rows)
    {
        var images = ml.Data.TakeRows(FashionMnist.Load(ml, FashionMnistSplit.Train, FashionMnistSource.Embedded), rows);
        return ml.Transforms.CustomMapping<PixelRow, PixelRow>((from, to) => to.Features = from.Features.Select(p => (p * scale) + offset).ToArray(), contractName: null)
            .Fit(images).Transform(images);
    }

    private sealed class LabelledPixelRow
    {
        public string Label { get; set; } = string.Empty;

        [VectorType(28 * 28)]
        public float[] Features { get; set; } = [];
    }

    private sealed class BytesRow
    {
        public byte[] ImageBytes { get; set; } = [];
    }

    private sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
    }

    private sealed class EmbeddingRow
    {
        public float[] Embedding { get; set; } = [];
    }

    private sealed class PixelRow
    {
        [VectorType(28 * 28)]
        public float[] Features { get; set; } = [];
    }

    private sealed class OddRow
    {
        [VectorType(700)]
        public float[] Features { get; set; } = [];
    }
}
