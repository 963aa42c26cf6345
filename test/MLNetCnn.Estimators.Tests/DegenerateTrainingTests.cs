using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Found by an outside sweep: two ways <c>Fit</c> returned a model that scores NaN for every input without a word. A
/// last batch of one image reaching a 1 x 1 batch norm wrote NaN into its running variance, and a last step that
/// diverged was never seen because only the loss before each update was checked.
/// </summary>
[TestClass]
public sealed class DegenerateTrainingTests
{
    private static readonly string[] Classes = ["a", "b", "c"];

    [TestMethod]
    public void ALastBatchOfOneImageDoesNotLeaveTheModelScoringNaN()
    {
        // 17 images in batches of 16: the last batch holds one; at 32 x 32 with the ImageNet stem, layer4 sees 1 x 1.
        var ml = new MLContext(seed: 1);
        var data = Images(ml, 17, 32);
        using var model = ml.Cnn().ImageClassification(Options(batch: 16, size: 32)).Fit(data);
        var scores = model.Transform(data).GetColumn<float[]>("Score").ToList();
        Assert.IsTrue(scores.All(s => s.All(float.IsFinite)), $"scores: {string.Join("; ", scores.Take(3).Select(s => string.Join(", ", s)))}");
        Assert.AreEqual(1, model.TrainingHistory.Count);
    }

    [TestMethod]
    public void ABatchOfOneImageAtA1x1BatchNormIsRefusedNamingTheShape()
    {
        var ml = new MLContext(seed: 1);
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().ImageClassification(Options(batch: 1, size: 32)).Fit(Images(ml, 4, 32)));
        StringAssert.Contains(e.Message, "more than one value per channel");
        StringAssert.Contains(e.Message, "1, 1]");
    }

    [TestMethod]
    public void ALastStepThatDivergesIsReportedNotReturned()
    {
        // One step (24 images, batch 64) at a learning rate of 1e6: the loss before the update is finite, the weights after it are not.
        var ml = new MLContext(seed: 1);
        var options = Options(batch: 64, size: 8);
        options.LearningRate = 1e6;
        var e = Assert.ThrowsExactly<TrainingDivergedException>(() => ml.Cnn().ImageClassification(options).Fit(Images(ml, 24, 8)));
        StringAssert.Contains(e.Message, "NaN or infinite");
        Assert.AreEqual(1, e.Epoch);
    }

    private static ImageClassificationTrainer.Options Options(int batch, int size) => new()
    {
        Arch = "resnet18",
        WidthMultiplier = 0.125,
        ImageShape = new ImageShape(1, size, size),
        SmallInputStem = false,
        Epoch = 1,
        BatchSize = batch,
    };

    private static IDataView Images(MLContext ml, int count, int size)
    {
        var random = new Random(3);
        var rows = Enumerable.Range(0, count).Select(i => new TestData.FloatRow
        {
            Label = Classes[i % 3],
            Features = Enumerable.Range(0, size * size).Select(_ => (float)(((i % 3) * 70) + random.Next(60))).ToArray(),
        }).ToList();
        return TestData.Build(ml, rows, size * size, Classes);
    }
}
