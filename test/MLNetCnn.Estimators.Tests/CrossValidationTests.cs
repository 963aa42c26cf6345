using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// ML.NET's <c>CrossValidate</c> around the estimator, between ML.NET's own steps (text label keyed before, the
/// predicted key mapped back to text after), as an outside sweep used it.
/// </summary>
[TestClass]
public sealed class CrossValidationTests
{
    private static readonly string[] Classes = ["a", "b", "c"];

    [TestMethod]
    public void EachFoldIsScoredAndItsModelsGraphsGoAtExitThoughNobodyDisposesThem()
    {
        string temp = Directory.CreateTempSubdirectory("mlnetcnn-cv-").FullName;
        try
        {
            var ml = new MLContext(seed: 1) { TempFilePath = temp };
            var keyed = TestData.Tiny(ml, 48, Classes);
            var text = ml.Transforms.Conversion.MapKeyToValue("Category", "Label").Append(ml.Transforms.DropColumns("Label")).Fit(keyed).Transform(keyed);
            var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "Category")
                .Append(ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 }))
                .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedCategory", "PredictedLabel"));

            var folds = ml.MulticlassClassification.CrossValidate(text, pipeline, numberOfFolds: 3);

            Assert.AreEqual(3, folds.Count);
            Assert.AreEqual(48, folds.Sum(f => f.ScoredHoldOutSet.GetColumn<string>("Category").Count()), "every row held out once");
            foreach (var fold in folds)
            {
                CollectionAssert.IsSubsetOf(fold.ScoredHoldOutSet.GetColumn<string>("PredictedCategory").Distinct().ToList(), Classes, "predictions mapped back to the label's text");
                Assert.AreEqual(Classes.Length, fold.Metrics.PerClassLogLoss.Count);
            }

            // An ML.NET user disposes none of these models: each holds the graph ONNX Runtime opened, which stayed after exit.
            Assert.AreEqual(3, Directory.GetFiles(temp).Length, "one graph per fold's model while they live");
            TempGraphFiles.DeleteUndisposed(temp); // what the process does at exit
            CollectionAssert.AreEqual(Array.Empty<string>(), Directory.GetFiles(temp));
            (folds[0].Model as IDisposable)?.Dispose(); // and a later Dispose still succeeds
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }
}
