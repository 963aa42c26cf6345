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
    [DataRow(1e-320)]
    [DataRow(0.06)]
    [DataRow(double.NaN)]
    public void AWidthBelowTheMinimumIsRefusedByTheTrainerAndTheFeaturizer(double width)
    {
        // Found by an outside sweep: 1e-320 built a 12,000-parameter network without a word (every layer 1 channel).
        var ml = new MLContext(seed: 1);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = width, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Cnn().ImageClassification(options));
        Assert.AreEqual("WidthMultiplier", e.ParamName);
        StringAssert.Contains(e.Message, $"at least {ArchitectureConfig.MinWidth}");

        var featurizer = new ImageFeaturizerEstimator.Options { WidthMultiplier = width, ImageShape = new ImageShape(1, 8, 8) };
        Assert.AreEqual("WidthMultiplier", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Cnn().ImageFeaturizer(featurizer).Fit(TestData.Unreadable(ml))).ParamName);
        var config = ModelRegistry.Get("resnet18").Config with { Width = width };
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => config.Create(new ArchitectureOptions { InputSize = 8, NumClasses = 2 })).Message, "ResNet Width must be");
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
