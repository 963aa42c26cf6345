using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Training;
using SkiaSharp;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// The estimator's data modes: streamed and in-memory fits of paths, bytes and pixel columns give the
/// same model; streamed pixels are the pixels the saved model computes; a file that stops decoding
/// mid-training is skipped or named; a view past int.MaxValue values trains.
/// </summary>
[TestClass]
public sealed class StreamingInputTests
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "mlnetcnn-streaming-tests-" + Environment.ProcessId);

    [ClassInitialize]
    public static void WriteFolder(TestContext context)
    {
        // Three classes told apart by colour; colour JPEGs and grey PNGs of non-square sizes.
        var random = new Random(4);
        var colours = new[] { new SKColor(200, 60, 50), new SKColor(50, 180, 70), new SKColor(60, 70, 210) };
        for (int c = 0; c < colours.Length; c++)
        {
            for (int i = 0; i < 20; i++)
            {
                int w = 24 + (i % 4 * 9), h = 40 - (i % 3 * 7);
                using var bitmap = new SKBitmap(w, h);
                for (int y = 0; y < h; y++)
                {
                    for (int x = 0; x < w; x++)
                    {
                        var k = colours[c];
                        int noise = random.Next(-40, 40);
                        bitmap.SetPixel(x, y, i % 5 == 4
                            ? new SKColor((byte)Math.Clamp(k.Red + noise, 0, 255), (byte)Math.Clamp(k.Red + noise, 0, 255), (byte)Math.Clamp(k.Red + noise, 0, 255))
                            : new SKColor((byte)Math.Clamp(k.Red + noise, 0, 255), (byte)Math.Clamp(k.Green + noise, 0, 255), (byte)Math.Clamp(k.Blue - noise, 0, 255)));
                    }
                }

                bool png = i % 5 == 4;
                string path = Path.Combine(Root, "train", $"class{c}", $"{i:D2}.{(png ? "png" : "jpg")}");
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                using var encoded = bitmap.Encode(png ? SKEncodedImageFormat.Png : SKEncodedImageFormat.Jpeg, 90);
                File.WriteAllBytes(path, encoded.ToArray());
            }
        }
    }

    [ClassCleanup]
    public static void DeleteFolder()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }

    [TestMethod]
    public void StreamedAndInMemoryFitsOfPathsBytesAndPixelsGiveTheSameModel()
    {
        var ml = new MLContext(seed: 1);
        var folder = ImageFolder.Load(ml, Path.Combine(Root, "train"));
        var bytes = ml.Transforms.LoadRawImageBytes("ImageBytes", null, ImageFolder.ImagePathColumnName).Fit(folder.Data).Transform(folder.Data);
        float[][] Scores(IDataView data, string column, DataOptions mode)
        {
            var options = Options(column);
            options.Data = mode;
            using var model = ml.Cnn().ImageClassification(options).Fit(data);
            return model.Transform(data).GetColumn<float[]>("Score").ToArray();
        }

        var reference = Scores(folder.Data, ImageFolder.ImagePathColumnName, new DataOptions { Mode = DataMode.InMemory });
        AssertSame(reference, Scores(folder.Data, ImageFolder.ImagePathColumnName, new DataOptions { Mode = DataMode.Streaming, DecodeParallelism = 2 }), "paths streamed");
        AssertSame(reference, Scores(folder.Data, ImageFolder.ImagePathColumnName, new DataOptions { Mode = DataMode.Streaming, CacheDecodedImages = true }), "paths streamed through the cache");
        AssertSame(reference, Scores(bytes, "ImageBytes", new DataOptions { Mode = DataMode.Streaming }), "bytes written to a file and streamed from it");

        // Pixel columns: 0..255 integers are kept as uint8, other values as float32; both stream from a file.
        var pixels = TestData.FashionSubset(ml, 96, seed: 2);
        var scaled = ml.Transforms.CustomMapping<PixelRow, PixelRow>((i, o) => o.Features = i.Features.Select(v => v / 255f).ToArray(), null).Fit(pixels).Transform(pixels);
        foreach (var (view, what) in new[] { (pixels, "0..255 pixels"), (scaled, "0..1 pixels") })
        {
            float[][] Fashion(DataMode mode)
            {
                var options = ImageClassificationTrainerTests.SmallOptions();
                options.Data = new DataOptions { Mode = mode };
                using var model = ml.Cnn().ImageClassification(options).Fit(view);
                return model.Transform(view).GetColumn<float[]>("Score").ToArray();
            }

            AssertSame(Fashion(DataMode.InMemory), Fashion(DataMode.Streaming), what);
        }
    }

    [TestMethod]
    public void StreamedPixelsAreThePixelsTheSavedModelComputes()
    {
        var ml = new MLContext(seed: 2);
        var folder = ImageFolder.Load(ml, Path.Combine(Root, "train"));
        var bytes = ml.Transforms.LoadRawImageBytes("ImageBytes", null, ImageFolder.ImagePathColumnName).Fit(folder.Data).Transform(folder.Data);
        foreach (var shape in new[] { new ImageShape(3, 24, 24), new ImageShape(1, 16, 16) })
        {
            foreach (var (data, column, kind) in new[] { (folder.Data, ImageFolder.ImagePathColumnName, ImageColumnKind.Path), (bytes, "ImageBytes", ImageColumnKind.Bytes) })
            {
                var conversion = ImageInput.Conversion(ml, data, column, kind, shape.Channels, shape.Height, shape.Width);
                var expected = conversion.Transform(data).GetColumn<float[]>(ImageInput.PixelColumnName).ToArray();
                var plan = new ImageColumnPlan(kind, column, ImageInput.PixelColumnName, conversion, shape);
                using var source = DataViewImageSource.Read(ml, data, plan, "Label", folder.ClassNames.Count, "training", new DataOptions { Mode = DataMode.Streaming, DecodeParallelism = 2 }, default);
                Assert.AreEqual(ImagePixelType.Byte, source.PixelType);
                var row = new byte[shape.Size];
                for (int i = 0; i < expected.Length; i++)
                {
                    source.ReadImage(i, row);
                    CollectionAssert.AreEqual(expected[i], Array.ConvertAll(row, b => (float)b), $"{kind} {shape}, row {i}");
                }
            }
        }
    }

    /// <summary>
    /// Found by an outside tester: 150,000 paths (ImageFolder.Load's output) decoded into memory said nothing for 8.4 s,
    /// and a 300,000-row validation set nothing for 37 s, where bytes and pixel columns report every few seconds.
    /// </summary>
    [TestMethod]
    public void DecodingAPathColumnIntoMemoryReportsItsProgressToTheLog()
    {
        var ml = new MLContext(seed: 2);
        var folder = ImageFolder.Load(ml, Path.Combine(Root, "train"));
        var shape = new ImageShape(3, 8, 8);
        var conversion = ImageInput.Conversion(ml, folder.Data, ImageFolder.ImagePathColumnName, ImageColumnKind.Path, shape.Channels, shape.Height, shape.Width);
        var plan = new ImageColumnPlan(ImageColumnKind.Path, ImageFolder.ImagePathColumnName, ImageInput.PixelColumnName, conversion, shape);
        var log = new List<string>();
        var before = DataViewImageSource.ProgressInterval;
        DataViewImageSource.ProgressInterval = TimeSpan.Zero;
        try
        {
            using var source = DataViewImageSource.Read(ml, folder.Data, plan, "Label", folder.ClassNames.Count, "validation", new DataOptions { Mode = DataMode.InMemory, DecodeParallelism = 2 }, default, log.Add);
            Assert.IsInstanceOfType<ImageDataset>(source, "decoded into memory");
            int count = source.Count;
            Assert.IsTrue(log.Any(l => l.StartsWith(FormattableString.Invariant($"Reading the validation images: {count} of {count} ("), StringComparison.Ordinal)), string.Join("\n", log));
        }
        finally
        {
            DataViewImageSource.ProgressInterval = before;
        }
    }

    /// <summary>
    /// The read before the first step told only the log: a UI bound to the progress callbacks showed nothing while photos
    /// decoded for minutes. Each set's read now reaches <c>ReadProgressCallback</c>, ending at its count, before the first step.
    /// </summary>
    [TestMethod]
    [DataRow(false, DisplayName = "a path column decoded into memory, and its validation set")]
    [DataRow(true, DisplayName = "a pixel column written to a temporary file, and its validation set")]
    public void TheReadBeforeTrainingReachesTheReadProgressCallbackSetBySet(bool pixels)
    {
        var ml = new MLContext(seed: 2);
        var data = pixels ? TestData.FashionSubset(ml, 300) : ImageFolder.Load(ml, Path.Combine(Root, "train")).Data;
        int count = pixels ? 300 : 60;
        using var cancel = new CancellationTokenSource();
        var options = Options(pixels ? "Features" : ImageFolder.ImagePathColumnName);
        options.ImageShape = pixels ? new ImageShape(1, 28, 28) : options.ImageShape;
        options.Data = pixels ? new DataOptions { MemoryBudgetBytes = 0 } : new DataOptions { Mode = DataMode.InMemory };
        options.ValidationSet = data;
        options.CancellationToken = cancel.Token;
        var reads = new List<DataReadProgress>();
        int readsBeforeTheFirstStep = -1;
        options.ReadProgressCallback = reads.Add;
        options.ProgressCallback = _ =>
        {
            readsBeforeTheFirstStep = reads.Count;
            cancel.Cancel();
        };

        Assert.ThrowsExactly<OperationCanceledException>(() => ml.Cnn().ImageClassification(options).Fit(data));
        Assert.AreEqual(reads.Count, readsBeforeTheFirstStep, "every read comes before the first step");
        int firstValidation = reads.FindIndex(r => r.Set == ImageSetKind.Validation);
        Assert.IsTrue(firstValidation > 0, "the training set is read first, then the validation set");
        Assert.IsTrue(reads.Skip(firstValidation).All(r => r.Set == ImageSetKind.Validation));
        foreach (var set in new[] { reads.Take(firstValidation).ToList(), reads.Skip(firstValidation).ToList() })
        {
            Assert.IsTrue(set.All(r => r.Images == count && r.ImagesRead is >= 1 and <= 300 && r.ImagesPerSecond >= 0), string.Join("\n", set));
            Assert.AreEqual(count, set[^1].ImagesRead, "the last call says the read is done");
            Assert.AreEqual(TimeSpan.Zero, set[^1].Remaining);
            Assert.IsTrue(set.Zip(set.Skip(1)).All(p => p.First.ImagesRead <= p.Second.ImagesRead), string.Join("\n", set));
        }
    }

    [TestMethod]
    public void AReadsTimeEstimateHoldsForAnySizeAndRate()
    {
        // Before, the estimate was the images left at a rate of at least 1e-9 a second: with no image read yet it
        // overflowed TimeSpan past 922 images, and Fit failed with an OverflowException before its first epoch.
        Assert.AreEqual(TimeSpan.Zero, DataReadProgress.At(ImageSetKind.Training, 0, 6_000, TimeSpan.FromMilliseconds(3)).Remaining);
        var half = DataReadProgress.At(ImageSetKind.Validation, 500, 1_000, TimeSpan.FromSeconds(2));
        Assert.AreEqual(TimeSpan.FromSeconds(2), half.Remaining);
        Assert.AreEqual(250, half.ImagesPerSecond, 1e-9);
        Assert.AreEqual(TimeSpan.Zero, DataReadProgress.At(ImageSetKind.Training, 1_000, 1_000, TimeSpan.FromSeconds(2)).Remaining);
        Assert.AreEqual(TimeSpan.MaxValue, DataReadProgress.At(ImageSetKind.Training, 1, int.MaxValue, TimeSpan.FromDays(100)).Remaining, "an estimate past TimeSpan's range is its largest value");
        Assert.AreEqual(0, DataReadProgress.At(ImageSetKind.Training, 0, 10, TimeSpan.Zero).ImagesPerSecond);
    }

    [TestMethod]
    public void AFileThatStopsDecodingMidTrainingIsSkippedAndLoggedOrFailsWithItsPath()
    {
        string folder = Path.Combine(Root, "changing");
        string deleted = Path.Combine(folder, "class1", "03.jpg");
        string corrupted = Path.Combine(folder, "class2", "07.jpg");
        IReadOnlyList<EpochMetrics> Fit(bool strict, List<string> log)
        {
            TestData.CopyFolder(Path.Combine(Root, "train"), folder);
            var ml = Logged(new MLContext(seed: 3), log);
            var data = ImageFolder.Load(ml, folder).Data;
            var options = Options(ImageFolder.ImagePathColumnName);
            options.Epoch = 4;
            options.Data = new DataOptions { Mode = DataMode.Streaming, Strict = strict };
            options.MetricsCallback = e =>
            {
                if (e.Epoch == 2)
                {
                    File.Delete(deleted);
                    File.WriteAllText(corrupted, "no longer a jpeg");
                }
            };
            using var model = ml.Cnn().ImageClassification(options).Fit(data);
            return model.TrainingHistory;
        }

        var lines = new List<string>();
        var history = Fit(strict: false, lines);
        CollectionAssert.AreEqual(new[] { 0, 0, 2, 2 }, history.Select(e => e.SkippedImages).ToArray());
        var skipped = lines.First(l => l.Contains("epoch 3/4: skipped 2 unreadable image(s)", StringComparison.Ordinal));
        StringAssert.Contains(skipped, deleted);
        StringAssert.Contains(skipped, corrupted);

        var error = Assert.ThrowsExactly<InvalidDataException>(() => Fit(strict: true, new List<string>()));
        Assert.IsTrue(error.Message.Contains(deleted, StringComparison.Ordinal) || error.Message.Contains(corrupted, StringComparison.Ordinal), error.Message);
    }

    [TestMethod]
    public void AViewOfMoreThanIntMaxValuePixelValuesStreamsAndTrains()
    {
        // 15,000 paths at 3 x 224 x 224 are 2.26e9 values (6 GB as float32): past int.MaxValue and past the budget.
        var lines = new List<string>();
        var ml = Logged(new MLContext(seed: 4), lines);
        string image = Directory.GetFiles(Path.Combine(Root, "train", "class0"), "*.jpg")[0];
        var rows = Enumerable.Range(0, 15_000).Select(i => new PathRow { ImagePath = image, Label = i % 2 == 0 ? "a" : "b" });
        var view = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        using var cancel = new CancellationTokenSource();
        var options = Options("ImagePath");
        options.ImageShape = new ImageShape(3, 224, 224);
        options.Mean = new[] { 127f, 127f, 127f };
        options.Std = new[] { 60f, 60f, 60f };
        options.CancellationToken = cancel.Token;
        var steps = new List<TrainingProgress>();
        options.ProgressCallback = p =>
        {
            steps.Add(p);
            cancel.Cancel();
        };
        Assert.ThrowsExactly<OperationCanceledException>(() => ml.Cnn().ImageClassification(options).Fit(view));
        Assert.AreEqual(1, steps.Count);
        Assert.AreEqual(15_000, steps[0].ImagesInEpoch);
        Assert.IsTrue(lines.Any(l => l.StartsWith("training data: 15000 images of 3x224x224 streamed", StringComparison.Ordinal)), string.Join("\n", lines));
    }

    private static ImageClassificationTrainer.Options Options(string column) => new()
    {
        FeatureColumnName = column,
        ImageShape = new ImageShape(3, 32, 32),
        Arch = "resnet18",
        WidthMultiplier = 0.25,
        Training = new TrainerOptions { Epochs = 2, BatchSize = 16, Seed = 3 },
    };

    /// <summary><paramref name="ml"/>, with the trainer's log lines going to <paramref name="lines"/>.</summary>
    private static MLContext Logged(MLContext ml, List<string> lines)
    {
        ml.Log += (_, e) =>
        {
            if (e.Source.StartsWith(nameof(ImageClassificationTrainer), StringComparison.Ordinal))
            {
                lock (lines)
                {
                    lines.Add(e.RawMessage);
                }
            }
        };
        return ml;
    }

    private static void AssertSame(float[][] expected, float[][] actual, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, what);
        for (int i = 0; i < expected.Length; i++)
        {
            CollectionAssert.AreEqual(expected[i], actual[i], $"{what}: row {i}");
        }
    }


    private sealed class PathRow
    {
        public string ImagePath { get; set; } = string.Empty;

        public string Label { get; set; } = string.Empty;
    }

    private sealed class PixelRow
    {
        [VectorType(784)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }
}
