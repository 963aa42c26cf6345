using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Families;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Every catalog entry through one workout, in the spirit of ML.NET's <c>TestEstimatorCore</c>: the schema the
/// estimator promises is the one the fitted transformer produces, it fits on tiny data (32 grey 28x28 images, one
/// epoch, narrow networks), a saved and reloaded model scores identically, and bad input is refused with a message
/// that names the column.
/// </summary>
[TestClass]
public sealed class CatalogWorkoutTests
{
    private static readonly ImageShape Shape = FashionMnist.ImageShape;
    private static readonly TrainerOptions OneEpoch = new() { Epochs = 1, BatchSize = 32, LearningRate = 0.01 };
    private static MLContext _ml = null!;
    private static IDataView _data = null!;

    [ClassInitialize]
    public static void MakeData(TestContext context)
    {
        _ml = new MLContext(seed: 1);
        _data = _ml.Data.Cache(TestData.FashionSubset(_ml, 32, seed: 13));
    }

    /// <summary>Each typed entry with a narrow row of its family (Inception v3 exists at its published widths only).</summary>
    public static IEnumerable<object[]> TypedEntries =>
    [
        ["ResNet", (Func<CnnTrainers, ImageClassificationTrainer>)(t => t.ResNet(ResNetConfig.ResNet18 with { Variant = ResNetVariant.D, Width = 0.125 }, imageShape: Shape, training: OneEpoch))],
        ["Vgg", (Func<CnnTrainers, ImageClassificationTrainer>)(t => t.Vgg(VggConfig.ForDepth(11, batchNorm: true) with { Width = 0.0625 }, imageShape: Shape, training: OneEpoch))],
        ["GoogLeNet", (Func<CnnTrainers, ImageClassificationTrainer>)(t => t.GoogLeNet(GoogLeNetConfig.Default with { Width = 0.125 }, imageShape: Shape, training: OneEpoch))],
        ["InceptionV3", (Func<CnnTrainers, ImageClassificationTrainer>)(t => t.InceptionV3(InceptionV3Config.Default with { AuxiliaryHead = false }, imageShape: Shape, training: OneEpoch))],
        ["MobileNetV1", (Func<CnnTrainers, ImageClassificationTrainer>)(t => t.MobileNetV1(MobileNetV1Config.For(alpha: 0.125, resolution: 28), imageShape: Shape, training: OneEpoch))],
        ["MobileNetV2", (Func<CnnTrainers, ImageClassificationTrainer>)(t => t.MobileNetV2(MobileNetV2Config.Default with { Width = 0.125 }, imageShape: Shape, training: OneEpoch))],
        ["ShuffleNetV1", (Func<CnnTrainers, ImageClassificationTrainer>)(t => t.ShuffleNetV1(ShuffleNetV1Config.G3 with { Width = 0.25 }, imageShape: Shape, training: OneEpoch))],
        ["ShuffleNetV2", (Func<CnnTrainers, ImageClassificationTrainer>)(t => t.ShuffleNetV2(ShuffleNetV2Config.X0_5 with { Width = 0.25 }, imageShape: Shape, training: OneEpoch))],
        ["SqueezeNet", (Func<CnnTrainers, ImageClassificationTrainer>)(t => t.SqueezeNet(SqueezeNetConfig.V1_1 with { Width = 0.125 }, imageShape: Shape, training: OneEpoch))],
        ["Xception", (Func<CnnTrainers, ImageClassificationTrainer>)(t => t.Xception(XceptionConfig.Default with { Width = 0.0625 }, imageShape: Shape, training: OneEpoch))],
        ["EfficientNet", (Func<CnnTrainers, ImageClassificationTrainer>)(t => t.EfficientNet(EfficientNetConfig.ForPhi(0.5) with { Width = 0.125 }, imageShape: Shape, training: OneEpoch))],
    ];

    /// <summary>A sample of registry names through the name shortcut, at a narrow width.</summary>
    public static IEnumerable<object[]> RegistryNames =>
        new[] { "resnetv2_50", "vgg16c", "mobilenet_v1_0.5_160", "shufflenet_v1_g8", "efficientnet_b1" }.Select(n => new object[] { n });

    [TestMethod]
    [DynamicData(nameof(TypedEntries))]
    public void TypedEntryWorkout(string family, Func<CnnTrainers, ImageClassificationTrainer> entry)
    {
        Assert.IsFalse(string.IsNullOrEmpty(family));
        Workout(entry(_ml.Cnn().Trainers), "Score", "PredictedLabel");
    }

    [TestMethod]
    [DynamicData(nameof(RegistryNames))]
    public void RegistryNameWorkout(string name)
    {
        var options = new ImageClassificationTrainer.Options { Arch = name, WidthMultiplier = 0.125, ImageShape = Shape, Training = OneEpoch };
        Workout(_ml.Cnn().ImageClassification(options), "Score", "PredictedLabel");
    }

    [TestMethod]
    public void FeaturizerWorkout()
    {
        var options = new ImageFeaturizerEstimator.Options { Architecture = MobileNetV2Config.Default with { Width = 0.25 }, ImageShape = Shape };
        Workout(_ml.Cnn().ImageFeaturizer(options), "Embedding");
    }

    /// <summary>
    /// Score had no slot names, which ML.NET's own multiclass trainers give it, so the usual
    /// <c>engine.OutputSchema["Score"].GetSlotNames(ref names)</c> threw. Checked through every way out of a model.
    /// </summary>
    private static void ScoreSlotsAreTheClassNames(ITransformer scorer, string name)
    {
        var classNames = _ml.CnnServing().GetClassNames(scorer, _data.Schema);
        var engine = _ml.Model.CreatePredictionEngine<PixelsOnly, ScoreOnly>(scorer, inputSchemaDefinition: PixelsDefinition());
        var viaTransform = scorer.Transform(_data);
        foreach (var (way, schema) in new[] { ("GetOutputSchema", scorer.GetOutputSchema(_data.Schema)), ("PredictionEngine", engine.OutputSchema), ("Transform", viaTransform.Schema) })
        {
            VBuffer<ReadOnlyMemory<char>> slotNames = default;
            schema["Score"].GetSlotNames(ref slotNames);
            CollectionAssert.AreEqual(classNames.ToList(), slotNames.DenseValues().Select(n => n.ToString()).ToList(), $"{name}, {way}");
            foreach (var (kind, expected) in new[] { ("ScoreColumnKind", "MulticlassClassification"), ("ScoreValueKind", "Score") })
            {
                ReadOnlyMemory<char> value = default;
                schema["Score"].Annotations.GetValue(kind, ref value);
                Assert.AreEqual(expected, value.ToString(), $"{name}, {way}: {kind}, as ML.NET's multiclass trainers give it");
            }
        }

        // The annotated view still hands out the scores, as the engine does.
        var first = viaTransform.GetColumn<float[]>("Score").First();
        CollectionAssert.AreEqual(first, engine.Predict(new PixelsOnly { Features = _data.GetColumn<float[]>("Features").First() }).Score, $"{name}: the same scores");
    }

    /// <summary>
    /// ML.NET's plain <c>Model.Load</c>, as Model Builder's generated code loads a model and then reads <c>Score</c>'s slot
    /// names for its labels: the names come from the graph itself (the node ML.NET's own ONNX export writes for them).
    /// Before, only <c>CnnServing().LoadModel</c> gave them, and the generated code threw.
    /// </summary>
    private static void PlainLoadHasScoreSlotNames(Stream saved, IReadOnlyList<string> classNames)
    {
        saved.Position = 0;
        var plain = new MLContext();
        plain.ComponentCatalog.RegisterAssembly(typeof(CnnServingCatalog).Assembly);
        var loaded = plain.Model.Load(saved, out _);
        try
        {
            VBuffer<ReadOnlyMemory<char>> slotNames = default;
            plain.Model.CreatePredictionEngine<PixelsOnly, ScoreOnly>(loaded, inputSchemaDefinition: PixelsDefinition()).OutputSchema["Score"].GetSlotNames(ref slotNames);
            CollectionAssert.AreEqual(classNames.ToList(), slotNames.DenseValues().Select(n => n.ToString()).ToList(), "plain Model.Load");
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }
    }

    private static SchemaDefinition PixelsDefinition()
    {
        var pixels = SchemaDefinition.Create(typeof(PixelsOnly));
        pixels[nameof(PixelsOnly.Features)].ColumnType = _data.Schema["Features"].Type;
        return pixels;
    }

    private sealed class PixelsOnly
    {
        public float[] Features { get; set; } = [];
    }

    private sealed class ScoreOnly
    {
        public float[] Score { get; set; } = [];
    }

    private static void Workout<TTransformer>(IEstimator<TTransformer> estimator, params string[] added)
        where TTransformer : class, ITransformer
    {
        // Schema: what GetOutputSchema promises is what the fitted transformer produces.
        var promised = estimator.GetOutputSchema(SchemaShapes.FromSchema(_data.Schema));
        var model = estimator.Fit(_data);
        try
        {
            var produced = SchemaShapes.FromSchema(model.GetOutputSchema(_data.Schema));
            foreach (string column in added)
            {
                var p = promised.Single(c => c.Name == column);
                var f = produced.Single(c => c.Name == column);
                Assert.AreEqual(f.Kind, p.Kind, $"{column}: vector kind");
                Assert.AreEqual(f.ItemType.RawType, p.ItemType.RawType, $"{column}: item type");
                Assert.AreEqual(f.IsKey, p.IsKey, $"{column}: key");
                CollectionAssert.AreEquivalent(f.Annotations.Select(a => a.Name).ToList(), p.Annotations.Select(a => a.Name).ToList(), $"{column}: annotations");
            }

            CollectionAssert.IsSubsetOf(_data.Schema.Where(c => !c.IsHidden).Select(c => c.Name).ToList(), produced.Select(c => c.Name).ToList(), "input columns pass through");

            // Save and load in a fresh context (the serving package alone reads it): identical output.
            using var stream = new MemoryStream();
            _ml.Model.Save(model, _data.Schema, stream);
            stream.Position = 0;
            var loaded = new MLContext().CnnServing().LoadModel(stream, out _);
            foreach (var (name, scorer) in new[] { ("trained", (ITransformer)model), ("loaded", loaded) })
            {
                // One dimension, as ML.NET's own trainers type Score: Vector<Single, 1, K> before (the ONNX batch axis).
                var type = (VectorDataViewType)scorer.GetOutputSchema(_data.Schema)[added[0]].Type;
                Assert.AreEqual(1, type.Dimensions.Length, $"{name}: {added[0]} is {type}");
                Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, type.Size), type, $"{name}: {added[0]}");
                if (added[0] == "Score")
                {
                    ScoreSlotsAreTheClassNames(scorer, name);
                }
            }

            if (added[0] == "Score")
            {
                PlainLoadHasScoreSlotNames(stream, _ml.CnnServing().GetClassNames(model, _data.Schema));
            }

            var expected = model.Transform(_data).GetColumn<float[]>(added[0]).ToList();
            var actual = loaded.Transform(_data).GetColumn<float[]>(added[0]).ToList();
            ((IDisposable)loaded).Dispose();
            Assert.AreEqual(32, expected.Count);
            for (int i = 0; i < expected.Count; i++)
            {
                CollectionAssert.AreEqual(expected[i], actual[i], $"row {i} after Save/Load");
                Assert.IsTrue(expected[i].All(float.IsFinite), $"row {i}: finite output");
            }

            // Bad input: the image column of another size, named in the error.
            var wrong = TestData.Build(_ml, Enumerable.Range(0, 4).Select(i => new TestData.FloatRow { Label = FashionMnist.ClassNames[i % 2], Features = new float[100] }), 100, FashionMnist.ClassNames);
            var fitError = Assert.Throws<Exception>(() => estimator.Fit(wrong));
            StringAssert.Contains(fitError.Message, "'Features'");
            var scoreError = Assert.Throws<Exception>(() => model.Transform(wrong).GetColumn<float[]>(added[0]).ToList());
            StringAssert.Contains(scoreError.Message, "Features");
            var missing = _ml.Transforms.DropColumns("Features").Fit(_data).Transform(_data);
            StringAssert.Contains(Assert.Throws<Exception>(() => estimator.GetOutputSchema(SchemaShapes.FromSchema(missing.Schema))).Message, "'Features' not found");
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }
}
