using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Data;

namespace MLNetCnn.Estimators.Tests;

/// <summary>Bad input gets an error that names the column or file, what was expected and what was found.</summary>
[TestClass]
public sealed class BadInputTests
{
    private static readonly string[] TwoClasses = { "a", "b" };
    private readonly MLContext _ml = new(seed: 1);

    private static IEnumerable<TestData.FloatRow> Rows(int count, int size, Func<int, int, float>? pixel = null, Func<int, string>? label = null) =>
        Enumerable.Range(0, count).Select(i => new TestData.FloatRow
        {
            Label = label?.Invoke(i) ?? TwoClasses[i % 2],
            Features = Enumerable.Range(0, size).Select(j => pixel?.Invoke(i, j) ?? (float)((i + j) % 255)).ToArray(),
        });

    private static Exception Catch(Action action)
    {
        try
        {
            action();
        }
        catch (Exception e)
        {
            return e;
        }

        Assert.Fail("expected an exception");
        return null!;
    }

    private Exception Fit(IDataView data, ImageShape? shape = null)
    {
        var options = ImageClassificationTrainerTests.SmallOptions();
        options.ImageShape = shape ?? new ImageShape(1, 8, 8);
        return Catch(() => _ml.Cnn().ImageClassification(options).Fit(data));
    }

    /// <summary>The <see cref="InvalidDataException"/> that <paramref name="e"/> is or wraps (a decoding thread's error arrives wrapped).</summary>
    private static InvalidDataException InvalidData(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is InvalidDataException found)
            {
                return found;
            }
        }

        throw new AssertFailedException($"no InvalidDataException in {e}");
    }

    /// <summary>
    /// Found by an outside sweep: the list named the label twice ("Columns: Label, Label."), the column
    /// <c>MapValueToKey</c> hides behind its key as well as the key, which nobody can select by that name.
    /// </summary>
    [TestMethod]
    public void AMissingFeatureColumnListsTheVisibleColumnsOnce()
    {
        var keyed = TestData.Build(_ml, Rows(4, 64), 64, TwoClasses);
        var data = _ml.Transforms.DropColumns("Features").Fit(keyed).Transform(keyed);
        var e = Fit(data);
        Assert.IsInstanceOfType<ArgumentOutOfRangeException>(e);
        StringAssert.Contains(e.Message, "Feature column 'Features' not found. Columns: Label. ");
    }

    [TestMethod]
    public void FeatureColumnOfTheWrongType()
    {
        var data = _ml.Data.LoadFromEnumerable(new[] { new NumberRow { Label = "a", Features = 1 }, new NumberRow { Label = "b", Features = 2 } });
        data = _ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
        var e = Fit(data);
        Assert.IsInstanceOfType<ArgumentException>(e);
        StringAssert.Contains(e.Message, "'Features'");
        StringAssert.Contains(e.Message, "vector of Single");
        StringAssert.Contains(e.Message, "Int32");
    }

    [TestMethod]
    public void ATextColumnIsImagePathsAndAMissingFileIsNamed()
    {
        var data = _ml.Data.LoadFromEnumerable(new[] { new TextRow { Label = "a", Features = "/no/such/cat.jpg" }, new TextRow { Label = "b", Features = "x" } });
        data = _ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
        var e = InvalidData(Fit(data));
        StringAssert.Contains(e.Message, "'/no/such/cat.jpg' cannot be read");
    }

    [TestMethod]
    public void AMissingRelativePathSaysWhereItWasLookedFor()
    {
        // A CSV of image paths relative to its own folder (as ML.NET's LoadImages takes them, with imageFolder) read
        // from another current directory said only "'cat0.png' cannot be read: it does not exist" (an outside sweep).
        var data = _ml.Data.LoadFromEnumerable(new[] { new TextRow { Label = "a", Features = "pets/cat0.png" }, new TextRow { Label = "b", Features = "pets/dog0.png" } });
        data = _ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
        var e = InvalidData(Fit(data));
        StringAssert.Contains(e.Message, "'pets/cat0.png' cannot be read");
        StringAssert.Contains(e.Message, Path.GetFullPath("pets/cat0.png"));
        StringAssert.Contains(e.Message, "current directory");
        StringAssert.Contains(e.Message, "imageFolder");
    }

    [TestMethod]
    public void FeatureColumnOfTheWrongSize()
    {
        var data = TestData.Build(_ml, Rows(4, 50), 50, TwoClasses);
        var e = Fit(data);
        StringAssert.Contains(e.Message, "'Features'");
        StringAssert.Contains(e.Message, "50 values");
        StringAssert.Contains(e.Message, "1x8x8");
        StringAssert.Contains(e.Message, "64");
    }

    [TestMethod]
    public void DeclaredImageShapeThatDoesNotMatchTheColumn()
    {
        var data = TestData.Build(_ml, Rows(4, 64), 64, TwoClasses);
        var e = Fit(data, new ImageShape(3, 8, 8));
        StringAssert.Contains(e.Message, "3x8x8");
        StringAssert.Contains(e.Message, "192");
        StringAssert.Contains(e.Message, "64 values");
    }

    [TestMethod]
    public void EmptyDataView()
    {
        var data = TestData.Build(_ml, Rows(0, 64), 64, TwoClasses);
        var e = Fit(data);
        Assert.IsInstanceOfType<TrainingDataException>(e); // what QuickStart and the CLI report in one line
        StringAssert.Contains(e.Message, "no rows");
        StringAssert.Contains(e.Message, "training");
    }

    [TestMethod]
    public void LabelWithASingleClassInTheData()
    {
        var data = TestData.Build(_ml, Rows(6, 64, label: _ => "a"), 64, TwoClasses);
        var e = Fit(data);
        Assert.IsInstanceOfType<TrainingDataException>(e);
        StringAssert.Contains(e.Message, "'Label'");
        StringAssert.Contains(e.Message, "single class");
    }

    /// <summary>
    /// ML.NET's own trainers skip a row whose label key is missing (a value the fitted MapValueToKey did not know); this
    /// trainer refuses it, and the message now says how to drop such rows (an outside sweep found no way out named).
    /// </summary>
    [TestMethod]
    public void AMissingLabelKeyNamesItsRowAndHowToDropSuchRows()
    {
        // Keyed on a and b only: the third row's "c" becomes the missing key 0.
        var data = TestData.Build(_ml, Rows(6, 64, label: i => i == 2 ? "c" : TwoClasses[i % 2]), 64, TwoClasses);
        var e = Fit(data);
        Assert.IsInstanceOfType<TrainingDataException>(e);
        StringAssert.Contains(e.Message, "training data, row 2: label column 'Label' has a missing key");
        StringAssert.Contains(e.Message, "mlContext.Data.FilterRowsByMissingValues(data, \"Label\")");

        // The advice works: the five labelled rows train.
        var options = ImageClassificationTrainerTests.SmallOptions();
        options.ImageShape = new ImageShape(1, 8, 8);
        using var model = _ml.Cnn().ImageClassification(options).Fit(_ml.Data.FilterRowsByMissingValues(data, "Label"));
        Assert.AreEqual(1, model.TrainingHistory.Count);
    }

    [TestMethod]
    public void LabelKeyTypeWithASingleClass()
    {
        var data = TestData.Build(_ml, Rows(6, 64, label: _ => "a"), 64, new[] { "a" });
        var e = Fit(data);
        StringAssert.Contains(e.Message, "'Label'");
        StringAssert.Contains(e.Message, "at least 2 classes");
    }

    [TestMethod]
    public void LabelThatIsNotAKey()
    {
        var schema = SchemaDefinition.Create(typeof(TestData.FloatRow));
        schema[nameof(TestData.FloatRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 64);
        var data = _ml.Data.LoadFromEnumerable(Rows(4, 64), schema);
        var e = Fit(data);
        StringAssert.Contains(e.Message, "'Label'");
        StringAssert.Contains(e.Message, "key type");
        StringAssert.Contains(e.Message, "String");
    }

    [TestMethod]
    [DataRow(float.NaN)]
    [DataRow(float.PositiveInfinity)]
    [DataRow(float.NegativeInfinity)]
    public void NonFinitePixels(float bad)
    {
        var data = TestData.Build(_ml, Rows(6, 64, pixel: (i, j) => i == 3 && j == 17 ? bad : 1f), 64, TwoClasses);
        var e = Fit(data);
        StringAssert.Contains(e.Message, "'Features'");
        StringAssert.Contains(e.Message, "row 3");
        StringAssert.Contains(e.Message, "index 17");
        StringAssert.Contains(e.Message, "non-finite");
    }

    [TestMethod]
    public void AnAbsurdPixelIsRefusedNamingItsRowNotBakedIntoTheNormalization()
    {
        // One image of float.MaxValue among normal ones used to give a standard deviation near 1e36, so every
        // other image normalized to about 0 and the model learned nothing (issue 11, row 8).
        var data = TestData.Build(_ml, Rows(8, 64, pixel: (i, j) => i == 5 ? float.MaxValue : (i + j) % 255), 64, TwoClasses);
        var e = Fit(data);
        StringAssert.Contains(e.Message, "row 5");
        StringAssert.Contains(e.Message, "3.4028235E+38");
    }

    [TestMethod]
    public void ALargeImageShapeWithAnUnknownRowCountIsNoOverflow()
    {
        // 3 x 1024 x 1024 values per image and no row count: 1024 rows reserved up front used to overflow.
        const int size = 3 * 1024 * 1024;
        var rows = Rows(2, size).Select(r => r); // a lazy sequence: the data view cannot know its row count
        var data = TestData.Build(_ml, rows, size, TwoClasses);
        Assert.IsNull(data.GetRowCount());
        var shape = new ImageShape(3, 1024, 1024);
        var plan = new ImageColumnPlan(ImageColumnKind.Pixels, "Features", "Features", Conversion: null, shape);
        using var source = DataViewImageSource.Read(_ml, data, plan, "Label", 2, "training", new DataOptions { Mode = DataMode.InMemory }, CancellationToken.None);
        Assert.AreEqual(2, source.Count);
        var second = new byte[size];
        source.ReadImage(1, second);
        Assert.AreEqual((1 + size - 1) % 255, second[^1]);
    }

    [TestMethod]
    public void ArchNullNamesTheOptionAndTheArchitectures()
    {
        var options = ImageClassificationTrainerTests.SmallOptions();
        var e = Catch(() => options.Arch = null!);
        Assert.IsInstanceOfType<ArgumentException>(e);
        Assert.AreEqual("Arch", ((ArgumentException)e).ParamName);
        StringAssert.Contains(e.Message, "resnet18");
        StringAssert.Contains(e.Message, "mobilenet_v2");
    }

    [TestMethod]
    public void UnknownArchitectureSuggestsTheNearestName()
    {
        var options = ImageClassificationTrainerTests.SmallOptions();
        var e = Catch(() => options.Arch = "resnet19");
        Assert.IsInstanceOfType<KeyNotFoundException>(e);
        StringAssert.Contains(e.Message, "resnet18");
    }

    [TestMethod]
    public void MissingDataFileIsNamed()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}", "train-images-idx3-ubyte.gz");
        var e = Catch(() => ImageData.LoadIdx(_ml, missing, missing, TwoClasses));
        Assert.IsInstanceOfType<FileNotFoundException>(e);
        StringAssert.Contains(e.Message, missing);

        var folder = Catch(() => FashionMnist.Load(_ml, FashionMnistSplit.Train, Path.GetDirectoryName(missing)!));
        Assert.IsInstanceOfType<FileNotFoundException>(folder);
        StringAssert.Contains(folder.Message, "train-images-idx3-ubyte.gz");
        StringAssert.Contains(folder.Message, "apt-get install dataset-fashion-mnist");
    }

    [TestMethod]
    public void CorruptDataFilesAreNamedWithWhatWasExpectedAndFound()
    {
        string dir = Directory.CreateTempSubdirectory("mlnetcnn-idx").FullName;
        try
        {
            string notIdx = Path.Combine(dir, "garbage.idx");
            File.WriteAllBytes(notIdx, new byte[] { 1, 2, 3, 4, 5, 6 });
            var e = Catch(() => IdxReader.Read(notIdx));
            Assert.IsInstanceOfType<InvalidDataException>(e);
            StringAssert.Contains(e.Message, notIdx);
            StringAssert.Contains(e.Message, "0x00 0x00");

            string truncated = Path.Combine(dir, "truncated.idx");
            File.WriteAllBytes(truncated, new byte[] { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3 });
            e = Catch(() => IdxReader.Read(truncated));
            StringAssert.Contains(e.Message, truncated);
            StringAssert.Contains(e.Message, "2x2x2 = 8 bytes");
            StringAssert.Contains(e.Message, "found 3");

            string badGzip = Path.Combine(dir, "bad.gz");
            File.WriteAllBytes(badGzip, new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff });
            e = Catch(() => IdxReader.Read(badGzip));
            Assert.IsInstanceOfType<InvalidDataException>(e);
            StringAssert.Contains(e.Message, badGzip);

            string images = Path.Combine(dir, "images.idx");
            string labels = Path.Combine(dir, "labels.idx");
            File.WriteAllBytes(images, new byte[] { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 7, 9 });
            File.WriteAllBytes(labels, new byte[] { 0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 0 });
            e = Catch(() => ImageData.LoadIdx(_ml, images, labels, TwoClasses));
            StringAssert.Contains(e.Message, "2 images");
            StringAssert.Contains(e.Message, "3 labels");

            File.WriteAllBytes(labels, new byte[] { 0, 0, 8, 1, 0, 0, 0, 2, 0, 5 });
            e = Catch(() => ImageData.LoadIdx(_ml, images, labels, TwoClasses));
            StringAssert.Contains(e.Message, labels);
            StringAssert.Contains(e.Message, "label 5 at row 1");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed class NumberRow
    {
        public string Label { get; set; } = string.Empty;

        public int Features { get; set; }
    }

    private sealed class TextRow
    {
        public string Label { get; set; } = string.Empty;

        public string Features { get; set; } = string.Empty;
    }
}
