using Microsoft.ML;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Tricks.Augmentation;
using MLNetCnn.Tricks.Distillation;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Recipes;
using MLNetCnn.Tricks.Regularization;

namespace MLNetCnn.Estimators.Tests;

/// <summary>The tricks reach the user through the estimator's Options; every registered model trains through it.</summary>
[TestClass]
public sealed class TricksPipelineTests
{
    private static ImageClassificationTrainer.Options Small(ImageClassificationTrainer.Options options)
    {
        options.Arch = "resnet18";
        options.WidthMultiplier = 0.25;
        options.ImageShape = FashionMnist.ImageShape;
        return options;
    }

    private const string InceptionV3Family = "InceptionV3";

    [TestMethod]
    public void TheBagOfTricksRecipeTrainsThroughTheEstimatorWithAugmentation()
    {
        var ml = new MLContext(seed: 1);
        var all = TestData.FashionSubset(ml, 2000, seed: 7);
        var train = ml.Data.TakeRows(all, 1500);
        var test = ml.Data.SkipRows(all, 1500);
        var options = Small(new ImageClassificationTrainer.Options { Training = TrainingRecipes.BagOfTricks(epochs: 4, batchSize: 32, mixup: true) with { Precision = TrainingPrecision.Float32 } });
        Assert.AreEqual(0.0125, options.LearningRate, 1e-12); // 0.1 x 32 / 256
        options.LearningRate = 0.05; // a short run on 1,500 images needs a larger rate than the linear rule gives
        options.Training = options.Training with { Augmentation = new AugmentationOptions { RandomResizedCrop = true, MinArea = 0.8, HorizontalFlipProbability = 0.5, Brightness = 0.1 } };
        Assert.IsTrue(options.Training.Nesterov && options.Training.NoBiasDecay && options.Training.ZeroGamma);
        Assert.AreEqual(0.1, options.Training.LabelSmoothing);
        Assert.AreEqual(0.2, options.Training.Mixup!.Alpha);
        Assert.AreEqual(4, options.Epoch, "the ML.NET names read the one TrainerOptions");
        using var model = ml.Cnn().ImageClassification(options).Fit(train);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        Assert.IsTrue(metrics.MicroAccuracy > 0.45, $"accuracy {metrics.MicroAccuracy:P1} with the recipe (chance is 10 %)");
        Assert.AreEqual(4, model.TrainingHistory.Count);
    }

    [TestMethod]
    public void AStudentLearnsFromATeachersScoreColumn()
    {
        var ml = new MLContext(seed: 1);
        var all = TestData.FashionSubset(ml, 2000, seed: 8);
        var train = ml.Data.TakeRows(all, 1500);
        var test = ml.Data.SkipRows(all, 1500);
        var teacherOptions = ImageClassificationTrainerTests.SmallOptions(epochs: 2);
        using var teacher = ml.Cnn().ImageClassification(teacherOptions).Fit(train);

        // The teacher's Score column becomes the student's soft targets (any ONNX classifier applied
        // with ApplyOnnxModel works the same way).
        var withTeacher = ml.Transforms.CopyColumns("TeacherScore", "Score").Fit(teacher.Transform(train)).Transform(teacher.Transform(train));
        withTeacher = ml.Transforms.DropColumns("Score", "PredictedLabel").Fit(withTeacher).Transform(withTeacher);
        var options = ImageClassificationTrainerTests.SmallOptions(epochs: 2);
        options.SoftTargetColumnName = "TeacherScore";
        options.Training = options.Training with { Distillation = new DistillationOptions { Temperature = 4, HardLabelWeight = 0.5 } };
        using var student = ml.Cnn().ImageClassification(options).Fit(withTeacher);
        var metrics = ml.MulticlassClassification.Evaluate(student.Transform(test));
        Assert.IsTrue(metrics.MicroAccuracy > 0.6, $"student accuracy {metrics.MicroAccuracy:P1}");

        options.SoftTargetColumnName = "Features";
        var e = Assert.ThrowsExactly<TrainingDataException>(() => ml.Cnn().ImageClassification(options).Fit(withTeacher));
        StringAssert.Contains(e.Message, "'Features'");
        StringAssert.Contains(e.Message, "10 classes");
    }

    [TestMethod]
    public void EveryRegisteredModelTrainsThroughTheEstimatorAndEvaluates()
    {
        // Issue 3's "interchangeable": the same pipeline, only the name changes. Small inputs use each
        // family's documented small-input stem; widths are cut so the whole zoo runs in CI time.
        var ml = new MLContext(seed: 1);
        var data = ml.Data.Cache(TestData.FashionSubset(ml, 48, seed: 9));
        var failures = new List<string>();
        foreach (var definition in ModelRegistry.All)
        {
            string name = definition.Name;
            try
            {
                // Inception v3's factorized modules exist only at the published widths.
                double width = definition.Family == InceptionV3Family ? 1.0 : 0.25;
                var options = new ImageClassificationTrainer.Options { Arch = name, WidthMultiplier = width, ImageShape = FashionMnist.ImageShape, Epoch = 1, BatchSize = 16, LearningRate = 0.01 };
                using var model = ml.Cnn().ImageClassification(options).Fit(data);
                var metrics = ml.MulticlassClassification.Evaluate(model.Transform(data));
                if (!(metrics.MicroAccuracy is >= 0 and <= 1) || !double.IsFinite(metrics.LogLoss))
                {
                    failures.Add($"{name}: accuracy {metrics.MicroAccuracy}, log-loss {metrics.LogLoss}");
                }
            }
            catch (Exception e)
            {
                failures.Add($"{name}: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            }
        }

        Assert.AreEqual(0, failures.Count, string.Join("\n", failures));
    }
}
