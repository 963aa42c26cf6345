using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators.Tests;

/// <summary><see cref="ImageClassificationTrainer.Options.TestTimeFlip"/>: the served model scores an image with its mirror.</summary>
[TestClass]
public sealed class TestTimeFlipTests
{
    [TestMethod]
    public void TheScoreIsTheMeanOfThePlainModelsScoresForTheImageAndItsMirrorAndSurvivesSaving()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.Cache(TestData.FashionSubset(ml, 32, seed: 14));
        var mirrored = TestData.Build(ml, ml.Data.CreateEnumerable<TestData.FloatRow>(ml.Transforms.Conversion.MapKeyToValue("Label").Fit(data).Transform(data), reuseRowObject: false)
            .Select(r => new TestData.FloatRow { Label = r.Label, Features = Mirror(r.Features) }).ToList(), 784, FashionMnist.ClassNames);
        var options = new ImageClassificationTrainer.Options
        {
            Arch = "resnet18",
            WidthMultiplier = 0.125,
            ImageShape = FashionMnist.ImageShape,
            Training = new TrainerOptions { Epochs = 1, BatchSize = 16, LearningRate = 0.05 },
        };
        using var plain = ml.Cnn().ImageClassification(options).Fit(data);
        options.TestTimeFlip = true;
        using var flipped = ml.Cnn().ImageClassification(options).Fit(data); // the same seed: the same weights

        var plainScores = Scores(plain, data);
        var plainMirrorScores = Scores(plain, mirrored);
        var flippedScores = Scores(flipped, data);
        float worst = 0, mirrorGap = 0;
        for (int i = 0; i < plainScores.Length; i++)
        {
            for (int k = 0; k < 10; k++)
            {
                worst = Math.Max(worst, Math.Abs(flippedScores[i][k] - ((plainScores[i][k] + plainMirrorScores[i][k]) / 2)));
                mirrorGap = Math.Max(mirrorGap, Math.Abs(plainScores[i][k] - plainMirrorScores[i][k]));
            }
        }

        Assert.IsTrue(worst <= 1e-5f, $"|flipped - mean(plain(x), plain(mirror x))| up to {worst}");
        Assert.IsTrue(mirrorGap > 1e-3f, "the plain model scores an image and its mirror differently, so the test can tell them apart");
        var flippedMirrorScores = Scores(flipped, mirrored);
        Assert.IsTrue(flippedScores.Zip(flippedMirrorScores).All(p => p.First.Zip(p.Second).All(q => Math.Abs(q.First - q.Second) <= 1e-5f)), "an image and its mirror score alike");

        using var stream = new MemoryStream();
        ml.Model.Save(flipped, data.Schema, stream);
        stream.Position = 0;
        var loaded = new MLContext().CnnServing().LoadModel(stream, out _);
        try
        {
            var reloaded = Scores(loaded, data);
            Assert.IsTrue(reloaded.Zip(flippedScores).All(p => p.First.Zip(p.Second).All(q => Math.Abs(q.First - q.Second) <= 1e-6f)), "the saved model keeps the flip");
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }
    }

    private static float[][] Scores(ITransformer model, IDataView data) => model.Transform(data).GetColumn<float[]>("Score").ToArray();

    private static float[] Mirror(float[] image)
    {
        using var grid = TorchSharp.torch.tensor(image).reshape(28, 28);
        using var mirror = grid.flip(1);
        return mirror.data<float>().ToArray(); // flip writes a new, contiguous tensor
    }
}
