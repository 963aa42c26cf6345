using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// ML.NET's usual classification pipeline ends with <c>MapKeyToValue("PredictedLabel")</c>, which turns the key into its
/// text in place. Found by an outside sweep: <c>GetClassNames</c> then refused the model ("Column 'PredictedLabel'
/// (String) has no key values to name the classes"), for a trained and a loaded model alike (the CLI and the serving
/// sample read the class names with it too). <c>Score</c>'s slot names are the same list, in score order.
/// </summary>
[TestClass]
public sealed class PredictedLabelAsTextTests
{
    private static readonly string[] Classes = ["dark", "mid", "light"];

    [TestMethod]
    public void ClassNamesComeFromTheScoreSlotsWhenPredictedLabelIsText()
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 24).Select(i => new TextRow { Label = Classes[i % 3], Features = TestData.TinyPixels(i % 3) }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Cnn().ImageClassification(options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        var model = pipeline.Fit(data);
        var trained = model.Transform(data);
        CollectionAssert.AreEqual(Classes, ml.CnnServing().GetClassNames(trained.Schema).ToArray(), "trained");

        using var stream = new MemoryStream();
        ml.Model.Save(model, data.Schema, stream);
        stream.Position = 0;
        var loaded = ml.CnnServing().LoadModel(stream, out var inputSchema);
        try
        {
            CollectionAssert.AreEqual(Classes, ml.CnnServing().GetClassNames(loaded, inputSchema).ToArray(), "loaded");
            var pool = ml.CnnServing().CreatePool<TextRow, TextPrediction>(loaded);
            var expected = trained.GetColumn<string>("PredictedLabel").ToList();
            for (int i = 0; i < rows.Count; i++)
            {
                var prediction = pool.Predict(rows[i]);
                Assert.AreEqual(expected[i], prediction.PredictedLabel, $"row {i}");
                Assert.AreEqual(Classes[Array.IndexOf(prediction.Score, prediction.Score.Max())], prediction.PredictedLabel, $"row {i}: the most probable class's name");
            }
        }
        finally
        {
            ((IDisposable)loaded).Dispose();
            (model as IDisposable)?.Dispose();
        }
    }

    private sealed class TextRow
    {
        public string Label { get; set; } = string.Empty;

        [VectorType(64)]
        public float[] Features { get; set; } = [];
    }

    private sealed class TextPrediction
    {
        public string PredictedLabel { get; set; } = string.Empty;

        public float[] Score { get; set; } = [];
    }
}
