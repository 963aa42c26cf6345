using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Found by an outside sweep: <c>PredictedLabel</c>'s key values were always text, so a label keyed on UInt32 values
/// came back from <c>MapKeyToValue</c> as the text "7" where ML.NET's own trainers give the UInt32 7, and an output
/// class with a <c>uint PredictedLabel</c> could not bind. The key values now keep the label's type, in its key order.
/// </summary>
[TestClass]
public sealed class PredictedLabelTypeTests
{
    [TestMethod]
    public void AUInt32LabelPredictsUInt32Values() => Check<uint>([7u, 3u, 11u]);

    [TestMethod]
    public void ASingleLabelPredictsSingleValues() => Check<float>([2.5f, -1f]);

    [TestMethod]
    public void ABooleanLabelPredictsBooleanValues() => Check<bool>([true, false]);

    [TestMethod]
    public void ClassesWhoseValuesReadAlikeAsTextAreRefused()
    {
        // Found by a sweep: DateTime keys 1 ms apart print alike; PredictedLabel merged two of three classes silently.
        var ml = new MLContext(seed: 1);
        var t = new DateTime(2026, 1, 1, 0, 0, 0, 1, DateTimeKind.Utc);
        DateTime[] classes = [t, t.AddMilliseconds(1), t.AddDays(1)];
        var rows = Enumerable.Range(0, 12).Select(i => new Row<DateTime> { Value = classes[i % 3], Features = TestData.TinyPixels(i % 3) }).ToList();
        var schema = SchemaDefinition.Create(typeof(Row<DateTime>));
        schema[nameof(Row<DateTime>.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 64);
        var data = ml.Data.LoadFromEnumerable(rows, schema);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.25, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", nameof(Row<DateTime>.Value)).Append(ml.Cnn().ImageClassification(options));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => pipeline.Fit(data)).Message, "read alike as text");
    }

    private static void Check<T>(T[] classes)
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 24).Select(i => new Row<T> { Value = classes[i % classes.Length], Features = TestData.TinyPixels(i % classes.Length) }).ToList();
        var schema = SchemaDefinition.Create(typeof(Row<T>));
        schema[nameof(Row<T>.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 64);
        var data = ml.Data.LoadFromEnumerable(rows, schema);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.25, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", nameof(Row<T>.Value)).Append(ml.Cnn().ImageClassification(options));
        var promised = pipeline.GetOutputSchema(SchemaShapes.FromSchema(data.Schema)).Single(c => c.Name == "PredictedLabel");
        using var model = pipeline.Fit(data);
        var produced = model.GetOutputSchema(data.Schema)["PredictedLabel"].Annotations.Schema["KeyValues"].Type;
        Assert.AreEqual(((VectorDataViewType)produced).ItemType, promised.Annotations.Single(a => a.Name == "KeyValues").ItemType, "GetOutputSchema promises the key values' type");
        string path = Path.Combine(Path.GetTempPath(), $"mlnetcnn-label-type-{typeof(T).Name}-{Environment.ProcessId}.zip");
        ml.Model.Save(model, data.Schema, path);
        try
        {
            var loaded = new MLContext().Cnn().LoadModel(path, out _);
            foreach (var (name, scorer) in new[] { ("trained", (ITransformer)model), ("loaded", loaded) })
            {
                var scored = ml.Transforms.Conversion.MapKeyToValue("PredictedValue", "PredictedLabel").Fit(scorer.Transform(data)).Transform(scorer.Transform(data));
                var expectedType = ((VectorDataViewType)scored.Schema["Label"].Annotations.Schema["KeyValues"].Type).ItemType;
                Assert.AreEqual(expectedType, scored.Schema["PredictedValue"].Type, $"{name}: PredictedLabel maps back to the label's type");
                var predicted = scored.GetColumn<T>("PredictedValue").ToList();
                var argMax = scored.GetColumn<float[]>("Score").Select(s => Array.IndexOf(s, s.Max())).ToList();
                CollectionAssert.AreEqual(argMax.Select(i => classes[i]).ToList(), predicted, $"{name}: each prediction is the value of its highest score, classes in the label's key order");
                CollectionAssert.AreEqual(classes.Select(c => Convert.ToString(c, System.Globalization.CultureInfo.InvariantCulture)).ToList(), ml.Cnn().GetClassNames(scored.Schema).ToList(), $"{name}: class names");
            }

            (loaded as IDisposable)?.Dispose();
        }
        finally
        {
            File.Delete(path);
        }
    }

    private sealed class Row<T>
    {
        public T Value { get; set; } = default!;

        public float[] Features { get; set; } = Array.Empty<float>();
    }
}
