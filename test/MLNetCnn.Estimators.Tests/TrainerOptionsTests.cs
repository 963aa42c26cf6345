using Microsoft.ML;
using MLNetCnn.Architectures.Families;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Tricks.Recipes;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators.Tests;

/// <summary>The estimator's options: one TrainerOptions under ML.NET's names, typed catalog entries, early stopping passed through.</summary>
[TestClass]
public sealed class TrainerOptionsTests
{
    /// <summary>Found by an outside sweep: null option objects and names failed with a NullReferenceException, or an ArgumentNullException for ML.NET's 'name'.</summary>
    [TestMethod]
    public void NullOptionsAreRefusedByName()
    {
        var ml = new MLContext(seed: 1);
        Assert.AreEqual("Training", Assert.ThrowsExactly<ArgumentNullException>(() => ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options { Training = null! })).ParamName);
        Assert.AreEqual("Data", Assert.ThrowsExactly<ArgumentNullException>(() => ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options { Data = null! })).ParamName);
        Assert.AreEqual("LabelColumnName", Assert.ThrowsExactly<ArgumentNullException>(() => ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options { LabelColumnName = null! })).ParamName);
        Assert.AreEqual("FeatureColumnName", Assert.ThrowsExactly<ArgumentNullException>(() => ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options { FeatureColumnName = "" })).ParamName);
    }

    /// <summary>Found by an outside sweep: a validation set's schema errors read word for word as the training data's.</summary>
    [TestMethod]
    public void AValidationSetOfTheWrongShapeIsNamedAsTheValidationSet()
    {
        var ml = new MLContext(seed: 1);
        string[] classes = ["a", "b"];
        var wrongSize = TestData.Build(ml, Enumerable.Range(0, 4).Select(i => new TestData.FloatRow { Label = classes[i % 2], Features = new float[100] }), 100, classes);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new Architectures.Models.ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8, ValidationSet = wrongSize };
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().ImageClassification(options).Fit(TestData.Tiny(ml, 8, classes)));
        Assert.AreEqual("ValidationSet", e.ParamName);
        StringAssert.StartsWith(e.Message, "ValidationSet: ");
        StringAssert.Contains(e.Message, "'Features'");
    }

    /// <summary>Found by an outside sweep: reading 30,000 encoded images took 11 s with nothing in the log.</summary>
    [TestMethod]
    public void ReadingTheImagesReportsItsProgressToTheLog()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) { messages.Add(e.Message); } };
        var before = DataViewImageSource.ProgressInterval;
        DataViewImageSource.ProgressInterval = TimeSpan.Zero;
        try
        {
            var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new Architectures.Models.ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
            using var model = ml.Cnn().ImageClassification(options).Fit(TestData.Tiny(ml, 24, ["a", "b"]));
        }
        finally
        {
            DataViewImageSource.ProgressInterval = before;
        }

        lock (messages)
        {
            Assert.IsTrue(messages.Any(m => m.Contains("Reading the training images: ", StringComparison.Ordinal) && m.Contains(" of 24 (", StringComparison.Ordinal)), string.Join("\n", messages.TakeLast(20)));
        }
    }

    [TestMethod]
    public void MLNetNamesReadAndWriteTheOneTrainerOptions()
    {
        var recipe = TrainingRecipes.BagOfTricks(epochs: 30, batchSize: 128);
        var options = new ImageClassificationTrainer.Options { Training = recipe };
        Assert.AreEqual(30, options.Epoch);
        Assert.AreEqual(128, options.BatchSize);
        Assert.AreSame(recipe.Schedule, options.LearningRateScheduler);

        options.Epoch = 5;
        options.EarlyStoppingCriteria = new EarlyStopping { Patience = 2 };
        options.ValidationSetFraction = 0.1;
        Assert.AreEqual(recipe with { Epochs = 5, EarlyStoppingCriteria = new EarlyStopping { Patience = 2 }, ValidationFraction = 0.1 }, options.Training, "the ML.NET names are views of Training, not copies");
        Assert.AreEqual(30, recipe.Epochs, "the recipe itself is immutable");
    }

    [TestMethod]
    public void TypedEntriesSetTheArchitectureAndLeaveTheCallersOptionsAlone()
    {
        var ml = new MLContext(seed: 1);
        var options = new ImageClassificationTrainer.Options { Arch = "vgg11", Epoch = 1 };
        var before = options.Architecture;
        var trainer = ml.Cnn().Trainers.ResNet(ResNetConfig.ResNet50 with { Variant = ResNetVariant.D }, options);
        Assert.AreSame(before, options.Architecture, "the caller's options keep their architecture");
        Assert.AreEqual("vgg11", options.Arch);
        Assert.IsNotNull(trainer);
        Assert.AreEqual("resnet50d", new ImageClassificationTrainer.Options { Architecture = ResNetConfig.ResNet50 with { Variant = ResNetVariant.D } }.Arch);
        Assert.AreEqual("efficientnet", new ImageClassificationTrainer.Options { Architecture = EfficientNetConfig.ForPhi(1.5) }.Arch);
    }

    [TestMethod]
    public void EarlyStoppingAndAStratifiedFractionReachTheTrainer()
    {
        // An improvement of 0.9 in accuracy cannot happen after the first epoch: training stops after 1 + patience epochs
        // and keeps the first epoch's weights, validated on 25 % of each class of the training data.
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) =>
        {
            if (e.Source.StartsWith(nameof(ImageClassificationTrainer), StringComparison.Ordinal))
            {
                lock (log)
                {
                    log.Add(e.RawMessage);
                }
            }
        };
        var data = TestData.FashionSubset(ml, 200, seed: 3);
        var trainer = ml.Cnn().Trainers.ResNet(ResNetConfig.ResNet18 with { Width = 0.125 }, imageShape: FashionMnist.ImageShape, training: new TrainerOptions
        {
            Epochs = 6,
            BatchSize = 25,
            ValidationFraction = 0.25,
            EarlyStoppingCriteria = new EarlyStopping { Patience = 2, MinDelta = 0.9 },
        });
        using var model = trainer.Fit(data);
        Assert.AreEqual(3, model.TrainingHistory.Count);
        Assert.AreEqual(1, model.TrainingHistory.Single(m => m.Restored).Epoch);
        lock (log)
        {
            Assert.IsTrue(log.Any(l => l.StartsWith("held out ", StringComparison.Ordinal) && l.EndsWith("of 200 images for validation (25 % of each class)", StringComparison.Ordinal)), string.Join('\n', log));
            Assert.IsTrue(log.Any(l => l.StartsWith("restored the weights of epoch 1", StringComparison.Ordinal)), string.Join('\n', log));
        }
    }
}
