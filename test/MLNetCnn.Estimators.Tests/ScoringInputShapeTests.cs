using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Found by an outside API sweep: scoring a pixel model through the natural input class (<c>float[] Features</c>
/// without <c>[VectorType(64)]</c>) failed with "Index was out of range", and a vector of 128 values with
/// "Length of memory (128) must match product of dimensions (64)" under ML.NET's wrapper: neither named the column or
/// the size the model needs.
/// </summary>
[TestClass]
public sealed class ScoringInputShapeTests
{
    private static readonly string[] Classes = ["a", "b", "c"];

    [TestMethod]
    public void AVariableSizeOrWrongSizeVectorIsRefusedNamingTheColumnAndTheSize()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        using var trained = ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 }).Fit(data);
        string path = Path.Combine(Path.GetTempPath(), $"mlnetcnn-shape-{Environment.ProcessId}.zip");
        ml.Model.Save(trained, data.Schema, path);
        var loaded = ml.CnnServing().LoadModel(path, out _);
        try
        {
            foreach (var model in new ITransformer[] { trained, loaded })
            {
                var variable = Assert.ThrowsExactly<ArgumentException>(() => ml.Model.CreatePredictionEngine<VariableInput, Output>(model));
                StringAssert.Contains(variable.Message, "Column 'Features'");
                StringAssert.Contains(variable.Message, "64 values a row");
                StringAssert.Contains(variable.Message, "[VectorType(64)]");

                var wrong = Assert.ThrowsExactly<ArgumentException>(() => model.Transform(ml.Data.LoadFromEnumerable([new WrongSizeInput()])));
                StringAssert.Contains(wrong.Message, "Column 'Features' is Vector<Single, 128>");

                var engine = ml.Model.CreatePredictionEngine<RightInput, Output>(model);
                Assert.HasCount(3, engine.Predict(new RightInput()).Score);
                ARowOfAnotherLengthIsRefusedNamingTheColumnAndTheRow(ml, model, engine, "Score");

                // Found by an outside sweep: one NaN pixel gave NaN scores and a label, with no error. (The label is what
                // is refused: an output of Score alone never computes it, and NaN scores speak for themselves.)
                var labelled = ml.Model.CreatePredictionEngine<RightInput, LabelledOutput>(model);
                foreach (float bad in new[] { float.NaN, float.PositiveInfinity })
                {
                    var pixels = new RightInput();
                    pixels.Features[17] = bad;
                    var nan = Assert.ThrowsExactly<InvalidDataException>(() => labelled.Predict(pixels));
                    StringAssert.Contains(nan.Message, "NaN or an infinite value");
                    var viaTransform = Assert.ThrowsExactly<InvalidDataException>(() => model.Transform(ml.Data.LoadFromEnumerable([pixels])).GetColumn<uint>("PredictedLabel").ToList());
                    StringAssert.Contains(viaTransform.Message, "NaN or an infinite value");
                }
            }
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
            File.Delete(path);
        }
    }

    [TestMethod]
    public void TheFeaturizerRefusesAVectorOfAnotherSizeOrARowOfAnotherLength()
    {
        var ml = new MLContext(seed: 1);
        var options = new ImageFeaturizerEstimator.Options { WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8) };
        using var featurizer = ml.Cnn().ImageFeaturizer(options).Fit(Data(ml));
        var wrong = Assert.ThrowsExactly<ArgumentException>(() => featurizer.Transform(ml.Data.LoadFromEnumerable([new WrongSizeInput()])));
        StringAssert.Contains(wrong.Message, "Column 'Features' is Vector<Single, 128>");

        var engine = ml.Model.CreatePredictionEngine<RightInput, Embedded>(featurizer);
        Assert.HasCount(featurizer.EmbeddingSize, engine.Predict(new RightInput()).Embedding);
        ARowOfAnotherLengthIsRefusedNamingTheColumnAndTheRow(ml, featurizer, engine, "Embedding");
    }

    /// <summary>
    /// Found by an outside sweep: a <c>[VectorType(64)]</c> array holding another number of values reached ONNX Runtime,
    /// whose "Length of memory (100) must match product of dimensions (64)" named neither the column nor the row.
    /// </summary>
    private static void ARowOfAnotherLengthIsRefusedNamingTheColumnAndTheRow<TOutput>(MLContext ml, ITransformer model, PredictionEngine<RightInput, TOutput> engine, string output)
        where TOutput : class, new()
    {
        foreach (int length in new[] { 100, 10 })
        {
            var viaEngine = Assert.ThrowsExactly<InvalidDataException>(() => engine.Predict(new RightInput { Features = new float[length] }));
            StringAssert.StartsWith(viaEngine.Message, $"Column 'Features' holds {length} values");
            StringAssert.Contains(viaEngine.Message, "Vector<Single, 64> (64 values a row)");
            StringAssert.Contains(viaEngine.Message, "[VectorType(64)]");

            var rows = ml.Data.LoadFromEnumerable(new[] { new RightInput(), new RightInput { Features = new float[length] } });
            var viaTransform = Assert.ThrowsExactly<InvalidDataException>(() => model.Transform(rows).GetColumn<float[]>(output).ToList());
            StringAssert.Contains(viaTransform.Message, $"Column 'Features' of row 1 holds {length} values");
        }

        // The engine scores the next right row as before.
        Assert.IsNotNull(engine.Predict(new RightInput()));
    }

    private static IDataView Data(MLContext ml) => TestData.Tiny(ml, 24, Classes);

    private sealed class Embedded
    {
        public float[] Embedding { get; set; } = [];
    }

    private sealed class VariableInput
    {
        public float[] Features { get; set; } = new float[64];
    }

    private sealed class WrongSizeInput
    {
        [VectorType(128)]
        public float[] Features { get; set; } = new float[128];
    }

    private sealed class RightInput
    {
        [VectorType(64)]
        public float[] Features { get; set; } = new float[64];
    }

    private sealed class Output
    {
        public float[] Score { get; set; } = [];
    }

    private sealed class LabelledOutput
    {
        public float[] Score { get; set; } = [];

        public uint PredictedLabel { get; set; }
    }
}
