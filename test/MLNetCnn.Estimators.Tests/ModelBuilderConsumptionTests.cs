using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;
using SkiaSharp;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// A model trained the way Model Builder's image scenario trains one (a string <c>Label</c> keyed by
/// <c>MapValueToKey</c>, encoded images in a <c>byte[] ImageSource</c>, <c>MapKeyToValue</c> on <c>PredictedLabel</c>),
/// consumed the way its generated code and ML.NET's samples consume one (an outside sweep).
/// </summary>
[TestClass]
public sealed class ModelBuilderConsumptionTests
{
    private static readonly string[] Classes = ["cat", "dog", "fox"];
    private static readonly string ModelPath = Path.Combine(Path.GetTempPath(), $"mlnetcnn-model-builder-{Environment.ProcessId}.zip");
    private static MLContext _ml = null!;
    private static ITransformer _trained = null!;

    [ClassInitialize]
    public static void Train(TestContext context)
    {
        _ml = new MLContext(seed: 1);
        var data = _ml.Data.LoadFromEnumerable(Enumerable.Range(0, 24).Select(i => Input(Classes[i % 3])));
        var pipeline = _ml.Transforms.Conversion.MapValueToKey("Label", "Label")
            .Append(_ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource",
                Arch = "resnet18",
                WidthMultiplier = 0.125,
                ImageShape = new ImageShape(1, 8, 8),
                Epoch = 1,
                BatchSize = 8,
            }))
            .Append(_ml.Transforms.Conversion.MapKeyToValue("PredictedLabel", "PredictedLabel"));
        _trained = pipeline.Fit(data);
        _ml.Model.Save(_trained, data.Schema, ModelPath);
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        (_trained as IDisposable)?.Dispose();
        File.Delete(ModelPath);
    }

    /// <summary>Model Builder's generated code: plain Model.Load, no registration, and the class names from the label's key values or Score's slot names.</summary>
    [TestMethod]
    public void TheGeneratedConsumptionCodeScoresAPlainlyLoadedModel()
    {
        var ml = new MLContext();
        var model = ml.Model.Load(ModelPath, out _);
        var engine = ml.Model.CreatePredictionEngine<ModelInput, ModelOutput>(model);
        var output = engine.Predict(new ModelInput { ImageSource = Input("dog").ImageSource });

        VBuffer<ReadOnlyMemory<char>> keyValues = default, slotNames = default;
        engine.OutputSchema["Label"].GetKeyValues(ref keyValues);
        engine.OutputSchema["Score"].GetSlotNames(ref slotNames);
        CollectionAssert.AreEqual(Classes, keyValues.DenseValues().Select(v => v.ToString()).ToList());
        CollectionAssert.AreEqual(Classes, slotNames.DenseValues().Select(v => v.ToString()).ToList());
        Assert.HasCount(Classes.Length, output.Score);
        Assert.AreEqual(Classes[Array.IndexOf(output.Score, output.Score.Max())], output.PredictedLabel);
    }

    /// <summary>
    /// ML.NET's engines own their model by default, so disposing one disposed the model it scored with. The pool's engines
    /// no longer do: before, disposing an engine taken from the pool made every later Predict an ObjectDisposedException.
    /// </summary>
    [TestMethod]
    public void DisposingAnEngineOfThePoolLeavesTheModelScoring()
    {
        var ml = new MLContext();
        var model = ml.CnnServing().LoadModel(ModelPath, out _);
        try
        {
            var pool = ml.CnnServing().CreatePool<ModelInput, ModelOutput>(model, maximumRetained: 1);
            var first = pool.GetPredictionEngine();
            var second = pool.GetPredictionEngine();
            pool.ReturnPredictionEngine(first);
            pool.ReturnPredictionEngine(second); // beyond MaximumRetained: disposed by the pool
            pool.GetPredictionEngine().Dispose();
            string expected = ml.Data.CreateEnumerable<ModelOutput>(model.Transform(ml.Data.LoadFromEnumerable([Input("fox")])), false).Single().PredictedLabel;
            Assert.AreEqual(expected, pool.Predict(Input("fox")).PredictedLabel);
        }
        finally
        {
            ((IDisposable)model).Dispose();
        }
    }

    /// <summary>Before, <c>using var engine = ...</c> left a model that said only "The model was disposed" to code that never disposed it.</summary>
    [TestMethod]
    public void AModelDisposedWithItsEngineSaysHow()
    {
        var ml = new MLContext();
        var model = ml.CnnServing().LoadModel(ModelPath, out _);
        using (var engine = ml.Model.CreatePredictionEngine<ModelInput, ModelOutput>(model))
        {
            engine.Predict(Input("cat"));
        }

        var e = Assert.ThrowsExactly<ObjectDisposedException>(() => model.Transform(ml.Data.LoadFromEnumerable([Input("cat")])));
        StringAssert.Contains(e.Message, "disposing a PredictionEngine created over it");
        StringAssert.Contains(e.Message, "OwnsTransformer = false");
    }

    /// <summary>Before: ML.NET's "Could not find input column 'ImageSource'", naming neither the type it needs nor what the input has.</summary>
    [TestMethod]
    public void AnInputWithoutTheImageColumnIsToldWhatTheModelTakes()
    {
        var ml = new MLContext();
        var loaded = ml.CnnServing().LoadModel(ModelPath, out _);
        try
        {
            foreach (var model in new[] { _trained, loaded })
            {
                var data = ml.Data.LoadFromEnumerable([new PathInput { Label = "cat", ImagePath = "cat.png" }]);
                foreach (var use in new Action[] { () => model.Transform(data), () => ml.Model.CreatePredictionEngine<PathInput, ModelOutput>(model) })
                {
                    var e = Assert.ThrowsExactly<ArgumentException>(use);
                    StringAssert.Contains(e.Message, "The input has no column 'ImageSource', which the model was trained on as Vector<Byte>");
                    StringAssert.Contains(e.Message, "ImagePath (String). Name the input class's property 'ImageSource'");
                }
            }
        }
        finally
        {
            ((IDisposable)loaded).Dispose();
        }
    }

    /// <summary>An 8 x 8 grey PNG of the class's grey level.</summary>
    private static ModelInput Input(string label)
    {
        byte level = (byte)(40 + (Array.IndexOf(Classes, label) * 80));
        using var bitmap = new SKBitmap(new SKImageInfo(8, 8, SKColorType.Gray8));
        bitmap.Erase(new SKColor(level, level, level));
        using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return new ModelInput { Label = label, ImageSource = png.ToArray() };
    }

    /// <summary>Model Builder's input class for images.</summary>
    public sealed class ModelInput
    {
        [LoadColumn(0)]
        [ColumnName("Label")]
        public string Label { get; set; } = string.Empty;

        [LoadColumn(1)]
        [ColumnName("ImageSource")]
        public byte[] ImageSource { get; set; } = [];
    }

    /// <summary>Model Builder's output class for images.</summary>
    public sealed class ModelOutput
    {
        [ColumnName("Label")]
        public uint Label { get; set; }

        [ColumnName("PredictedLabel")]
        public string PredictedLabel { get; set; } = string.Empty;

        [ColumnName("Score")]
        public float[] Score { get; set; } = [];
    }

    public sealed class PathInput
    {
        public string Label { get; set; } = string.Empty;

        public string ImagePath { get; set; } = string.Empty;
    }
}
