using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Found by an outside API sweep (with the Mean/Std check below): a validation set keyed [C, B, A] against training keys [a, b, c] was accepted, so the
/// per-epoch validation accuracy and early stopping compared permuted classes. Only the class count was checked.
/// </summary>
[TestClass]
public sealed class ValidationKeyTests
{
    [TestMethod]
    [DataRow("c,b,a", "in another order")]
    [DataRow("a,b,x", "with other names")]
    public void AValidationSetKeyedOtherwiseIsRefusedNamingBothKeys(string validationKeys, string why)
    {
        var ml = new MLContext(seed: 1);
        string[] train = ["a", "b", "c"];
        var validation = validationKeys.Split(',');
        var options = new ImageClassificationTrainer.Options
        {
            Arch = "resnet18",
            WidthMultiplier = 0.125,
            ImageShape = new ImageShape(1, 8, 8),
            Epoch = 1,
            BatchSize = 8,
            ValidationSet = Data(ml, validation),
        };
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().ImageClassification(options).Fit(Data(ml, train)));
        StringAssert.Contains(e.Message, why);
        StringAssert.Contains(e.Message, $"[{string.Join(", ", validation)}]");
        StringAssert.Contains(e.Message, "[a, b, c]");
    }

    [TestMethod]
    public void AValidationSetTheStepsBeforeTheTrainerWouldKeySaysItIsReadAsGiven()
    {
        // Found by an outside sweep: in MapValueToKey("Label", "Category").Append(trainer), the raw validation data
        // (text Category, no Label) was refused as "Label column 'Label' not found", with nothing saying that the
        // pipeline's steps never see the ValidationSet.
        var ml = new MLContext(seed: 1);
        var keyed = Data(ml, ["a", "b", "c"]);
        var raw = ml.Transforms.Conversion.MapKeyToValue("Category", "Label").Append(ml.Transforms.DropColumns("Label")).Fit(keyed).Transform(keyed);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8, ValidationSet = raw };
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "Category").Append(ml.Cnn().ImageClassification(options));
        var e = Assert.ThrowsExactly<ArgumentException>(() => pipeline.Fit(raw));
        StringAssert.Contains(e.Message, "Label column 'Label' not found");
        StringAssert.Contains(e.Message, "read as given");
        StringAssert.Contains(e.Message, ".Transform(");
    }

    [TestMethod]
    [DataRow("c,b,a")]
    [DataRow("a,b")]
    public void ScoringDataWhoseLabelIsKeyedOtherwiseIsRefusedBeforeEvaluateComparesOtherClasses(string testKeys)
    {
        // Found by an outside sweep: a test set keyed by its own MapValueToKey scored silently wrong in Evaluate.
        var ml = new MLContext(seed: 1);
        string[] keys = ["a", "b", "c"];
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
        var train = Data(ml, keys);
        using var model = ml.Cnn().ImageClassification(options).Fit(train);
        var test = Data(ml, testKeys.Split(','));
        string path = Path.Combine(Path.GetTempPath(), $"mlnetcnn-keys-{Guid.NewGuid():N}.zip");
        ml.Model.Save(model, train.Schema, path);
        var loaded = ml.Cnn().LoadModel(path, out _);
        try
        {
            foreach (var scorer in new ITransformer[] { model, loaded })
            {
                var e = Assert.ThrowsExactly<ArgumentException>(() => scorer.Transform(test));
                StringAssert.Contains(e.Message, $"Column 'Label' is keyed [{testKeys.Replace(",", ", ", StringComparison.Ordinal)}]");
                StringAssert.Contains(e.Message, "[a, b, c]");
                Assert.AreEqual(12, scorer.Transform(Data(ml, keys)).GetColumn<float[]>("Score").Count(), "the training keys score");
                using var engine = ml.Model.CreatePredictionEngine<UnnamedKeyRow, ScoreRow>(scorer);
                Assert.AreEqual(3, engine.Predict(new UnnamedKeyRow { Label = 1, Features = TestData.TinyPixels(0) }).Score.Length, "a [KeyType(3)] label without key values scores");
            }
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
            File.Delete(path);
        }
    }

    [TestMethod]
    public void TheSameKeysAreAccepted()
    {
        var ml = new MLContext(seed: 1);
        string[] keys = ["a", "b", "c"];
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8, ValidationSet = Data(ml, keys) };
        using var model = ml.Cnn().ImageClassification(options).Fit(Data(ml, keys));
        Assert.IsNotNull(model.TrainingHistory[0].ValidationAccuracy);
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void MeanWithoutStdOrStdWithoutMeanIsRefused(bool meanOnly)
    {
        // Found by the same sweep: Mean without Std was ignored and the data's statistics used instead.
        var ml = new MLContext(seed: 1);
        string[] keys = ["a", "b", "c"];
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
        if (meanOnly)
        {
            options.Mean = [1000f];
        }
        else
        {
            options.Std = [50f];
        }

        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().ImageClassification(options).Fit(Data(ml, keys)));
        StringAssert.Contains(e.Message, "Options.Mean and Options.Std set the input normalization together");
    }

    [TestMethod]
    public void ALabelKeyOfAnotherRawTypeIsRefusedNamingIt()
    {
        // A byte key is legal in ML.NET; reading it as UInt32 failed with ML.NET's internal "Invalid TValue in GetGetter".
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 12).Select(i => new ByteKeyRow { Label = (byte)((i % 3) + 1), Features = TestData.TinyPixels(i % 3) });
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().ImageClassification(options).Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(e.Message, "Label column 'Label' is a key of Byte; expected a key of UInt32");

        // Found by an outside sweep: the advice was MapKeyToValue then MapValueToKey, which fails on a key without key
        // values; ConvertType keeps a key but maps ML.NET's byte keys 1, 2, 3 to 2, 3 and missing. The advice now names
        // the ways that work.
        StringAssert.Contains(e.Message, "a uint property with [KeyType(count)], a TextLoader.Column of DataKind.UInt32 with a KeyCount, or MapValueToKey");
        var converted = ml.Transforms.Conversion.ConvertType("Label", outputKind: Microsoft.ML.Data.DataKind.UInt32).Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        CollectionAssert.AreEqual(new uint[] { 2, 3, 0 }, converted.GetColumn<uint>("Label").Take(3).ToArray(), "ML.NET's ConvertType still shifts keys: the message's warning stands");
    }

    private sealed class ByteKeyRow
    {
        [Microsoft.ML.Data.KeyType(3)]
        public byte Label { get; set; }

        [Microsoft.ML.Data.VectorType(64)]
        public float[] Features { get; set; } = [];
    }

    private static IDataView Data(MLContext ml, string[] keys) => TestData.Tiny(ml, 12, keys);

    private sealed class UnnamedKeyRow
    {
        [KeyType(3)]
        public uint Label { get; set; }

        [VectorType(64)]
        public float[] Features { get; set; } = [];
    }

    private sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
    }
}
