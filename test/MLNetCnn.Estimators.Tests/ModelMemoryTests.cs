using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Found by an outside API sweep: a <c>WidthMultiplier</c> far too large read the whole data set and then failed in
/// libtorch ("can't allocate memory: you tried to allocate 147456000000000000 bytes"); a moderately too large one
/// would meet the kernel's out-of-memory kill. Both are refused now, before a row is read.
/// </summary>
[TestClass]
public sealed class ModelMemoryTests
{
    [TestMethod]
    [DataRow(1e6)]
    [DataRow(1000.0)]
    public void AWidthTooLargeForMemoryIsRefusedBeforeTheDataIsRead(double width)
    {
        var ml = new MLContext(seed: 1);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = width, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Cnn().ImageClassification(options).Fit(TestData.Unreadable(ml)));
        Assert.AreEqual("WidthMultiplier", e.ParamName);
        StringAssert.Contains(e.Message, "Use a smaller WidthMultiplier");

        var featurizer = new ImageFeaturizerEstimator.Options { WidthMultiplier = width, ImageShape = new ImageShape(1, 8, 8) };
        Assert.AreEqual("WidthMultiplier", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Cnn().ImageFeaturizer(featurizer).Fit(TestData.Unreadable(ml))).ParamName);
    }

    [TestMethod]
    public void AModestWidthAboveOneStillTrains()
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 8).Select(i => new TestData.FloatRow { Label = i % 2 == 0 ? "a" : "b", Features = Enumerable.Range(0, 64).Select(j => (float)((i % 2 * 100) + j)).ToArray() }).ToList();
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 1.5, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
        using var model = ml.Cnn().ImageClassification(options).Fit(TestData.Build(ml, rows, 64, ["a", "b"]));
        Assert.HasCount(1, model.TrainingHistory);
    }
}
