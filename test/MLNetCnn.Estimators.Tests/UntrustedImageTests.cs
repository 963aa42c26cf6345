using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using MLNetCnn.TestSupport;
using SkiaSharp;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Issue 11, rows 1 and 8: an image whose header declares more pixels than the decode limit, and an image cut
/// short, are refused with an <see cref="InvalidDataException"/> naming the source on every image path: the
/// folder loader, path, bytes and MLImage columns in training and in a saved model.
/// </summary>
[TestClass]
public sealed class UntrustedImageTests
{
    private const int BombSide = 8000; // 64 megapixels: over the default limit, yet small enough that a regression does not exhaust the machine
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "mlnetcnn-untrusted-" + Environment.ProcessId);
    private static readonly string[] Classes = ["dark", "light"];
    private static string _bomb = string.Empty;
    private static string _truncated = string.Empty;

    public TestContext TestContext { get; set; } = null!;

    [ClassInitialize]
    public static void WriteImages(TestContext context)
    {
        for (int c = 0; c < 2; c++)
        {
            Directory.CreateDirectory(Path.Combine(Root, "folder", Classes[c]));
            for (int i = 0; i < 8; i++)
            {
                using var bitmap = new SKBitmap(12 + i, 12);
                bitmap.Erase(c == 0 ? new SKColor((byte)(20 + i), 20, 20) : new SKColor(230, (byte)(230 - i), 230));
                using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(Path.Combine(Root, "folder", Classes[c], $"{i}.png"), png.ToArray());
            }
        }

        _bomb = Path.Combine(Root, "bomb.png");
        File.WriteAllBytes(_bomb, CraftedImages.Png(BombSide, BombSide));
        _truncated = Path.Combine(Root, "truncated.png");
        File.WriteAllBytes(_truncated, CraftedImages.TruncatedPng());
    }

    [ClassCleanup]
    public static void DeleteImages() => Directory.Delete(Root, recursive: true);

    /// <summary>
    /// Found by an outside sweep: this 3.6 KB BMP ended any process that decoded it (SkiaSharp's managed stream threw
    /// an OverflowException inside a native callback for a skip past 2 GB). A regression ends the test host.
    /// </summary>
    [TestMethod]
    [DataRow(0xB7000036u)]
    [DataRow(0x80000000u)]
    [DataRow(0xFFFFFFFFu)]
    public void ABmpWhosePixelsLieBeyondTwoGigabytesIsRefusedNotFatal(uint offset)
    {
        var valid = ImageDecoding.DecodeBytes(CraftedImages.Bmp(), "valid bmp");
        Assert.AreEqual((40, 30), (valid.Width, valid.Height), "the same file with its real offset decodes");
        valid.Dispose();

        var bytes = CraftedImages.Bmp(offset);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(bytes, "posted image")).Message, "posted image (3654 bytes)");
        string path = Path.Combine(Root, $"offset-{offset:x8}.bmp");
        File.WriteAllBytes(path, bytes);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeFile(path)).Message, path);
    }

    /// <summary>
    /// Found by an outside sweep of the SKData change: decoding a mapped file that another thread cut short ended the
    /// process with SIGBUS. The file is copied before decoding; a regression ends the test host.
    /// </summary>
    [TestMethod]
    public void AFileCutShortWhileItDecodesIsAnErrorNotACrash()
    {
        var random = new Random(5);
        using var noise = new SKBitmap(900, 900, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var pixels = new byte[900 * 900 * 4];
        random.NextBytes(pixels);
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, noise.GetPixels(), pixels.Length);
        using var encoded = noise.Encode(SKEncodedImageFormat.Png, 0);
        byte[] png = encoded.ToArray();
        string path = Path.Combine(Root, "cut-short.png");
        int errors = 0;
        for (int round = 0; round < 12; round++)
        {
            File.WriteAllBytes(path, png);
            int delay = round % 6 * 4;
            var cut = Task.Run(() =>
            {
                Thread.Sleep(delay);
                using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
                file.SetLength(1000);
            });
            try
            {
                using var image = ImageDecoding.DecodeFile(path);
            }
            catch (InvalidDataException)
            {
                errors++;
            }

            cut.Wait();
        }

        TestContext.WriteLine($"{errors} of 12 decodes met the cut file and were refused");
    }

    [TestMethod]
    public void AFileLargerThanAnyImageWithinTheLimitIsNotRead()
    {
        var before = ImageDecodeLimit.Current;
        ImageDecodeLimit.Current = new ImageDecodeLimit { MaxPixels = 1000 };
        try
        {
            string path = Path.Combine(Root, "huge.png");
            var bytes = new byte[ImageDecodeLimit.Current.MaxFileBytes + 1];
            CraftedImages.Png(8, 8, rows: 8).CopyTo(bytes, 0);
            File.WriteAllBytes(path, bytes);
            foreach (var read in new Action[] { () => ImageDecoding.DecodeFile(path).Dispose(), () => ImageDecoding.ReadFile(path) })
            {
                StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(read).Message, "more than an image within the decode limit takes");
            }
        }
        finally
        {
            ImageDecodeLimit.Current = before;
        }
    }

    [TestMethod]
    public void AnInvalidHeaderIsNotCalledTruncatedData()
    {
        // Found by an outside sweep: a PNG declaring width 0 read "not a decodable image (...; SkiaSharp: IncompleteInput)".
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(CraftedImages.Png(0, 16), "posted image"));
        StringAssert.Contains(e.Message, "is not a decodable image: its header is cut short or invalid");
    }

    [TestMethod]
    public void AHeaderOverTheLimitIsRefusedNamingTheSourceAndTheDeclaredSize()
    {
        var bytes = File.ReadAllBytes(_bomb);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(bytes, "posted image"));
        StringAssert.Contains(e.Message, $"posted image ({bytes.Length} bytes)");
        StringAssert.Contains(e.Message, $"{BombSide} x {BombSide}");
        var size = Assert.IsInstanceOfType<ImageTooLargeException>(e.InnerException, "the declared size travels with it");
        Assert.AreEqual((BombSide, BombSide), (size.Width, size.Height));

        var file = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeFile(_bomb));
        StringAssert.Contains(file.Message, _bomb);
        StringAssert.Contains(file.Message, $"{BombSide} x {BombSide}");
    }

    [TestMethod]
    public void ATruncatedImageIsRefusedNotScoredAsPartlyBlack()
    {
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeFile(_truncated));
        StringAssert.Contains(e.Message, _truncated);
        StringAssert.Contains(e.Message, "truncated");
    }

    [TestMethod]
    public void TheFolderLoaderSkipsBombsAndTruncatedFilesAndNamesThem()
    {
        string folder = Path.Combine(Root, "hostile-folder");
        TestData.CopyFolder(Path.Combine(Root, "folder"), folder);
        File.Copy(_bomb, Path.Combine(folder, "dark", "bomb.png"));
        File.Copy(_truncated, Path.Combine(folder, "light", "cut.png"));
        var ml = new MLContext();

        var strict = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(ml, folder));
        StringAssert.Contains(strict.Message, "bomb.png");
        var loaded = ImageFolder.Load(ml, folder, skipUnreadable: true);
        Assert.AreEqual(16, loaded.ImageCount);
        Assert.AreEqual(2, loaded.Skipped.Count, string.Join("\n", loaded.Skipped));
        Assert.IsTrue(loaded.Skipped.Any(s => s.Contains("bomb.png", StringComparison.Ordinal) && s.Contains($"{BombSide} x {BombSide}", StringComparison.Ordinal)), string.Join("\n", loaded.Skipped));
        Assert.IsTrue(loaded.Skipped.Any(s => s.Contains("cut.png", StringComparison.Ordinal) && s.Contains("truncated", StringComparison.Ordinal)), string.Join("\n", loaded.Skipped));
    }

    [TestMethod]
    public void PathAndBytesColumnsRefuseBombsInTrainingAndInTheSavedModel()
    {
        var ml = new MLContext(seed: 1);
        var good = ImageFolder.Load(ml, Path.Combine(Root, "folder"));
        var hostileRows = Rows(good).Append(new PathRow { ImagePath = _bomb, Label = "dark" }).ToList();
        var hostile = Keyed(ml, hostileRows);

        // Training on a path column with a bomb in it stops with the bomb named.
        var trainError = Unwrap(Assert.Throws<Exception>(() => ml.Cnn().ImageClassification(Options(ImageFolder.ImagePathColumnName)).Fit(hostile)));
        Assert.IsInstanceOfType<ImageTooLargeException>(trainError.InnerException, trainError.ToString());
        StringAssert.Contains(trainError.Message, _bomb);

        // A saved path model and a saved bytes model refuse them when scoring.
        foreach (string column in new[] { ImageFolder.ImagePathColumnName, "ImageBytes" })
        {
            IDataView Input(IDataView paths) => column == "ImageBytes" ? ml.Transforms.LoadRawImageBytes("ImageBytes", null, ImageFolder.ImagePathColumnName).Fit(paths).Transform(paths) : paths;
            using var model = ml.Cnn().ImageClassification(Options(column)).Fit(ml.Data.Cache(Input(good.Data)));
            string path = Path.Combine(Root, column + ".zip");
            ml.Model.Save(model, Input(good.Data).Schema, path);
            var loaded = new MLContext().Cnn().LoadModel(path, out _);
            foreach (var (file, expected) in new[] { (_bomb, $"{BombSide} x {BombSide}"), (_truncated, "truncated") })
            {
                var rows = Input(Keyed(ml, [new PathRow { ImagePath = file, Label = "dark" }]));
                var e = Unwrap(Assert.Throws<Exception>(() => loaded.Transform(rows).GetColumn<float[]>("Score").ToList()));
                Assert.IsInstanceOfType<InvalidDataException>(e, e.ToString());
                StringAssert.Contains(e.Message, expected);
                StringAssert.Contains(e.Message, column == "ImageBytes" ? $"{new FileInfo(file).Length} bytes" : file);
            }

            (loaded as IDisposable)?.Dispose();
        }
    }

    [TestMethod]
    public void ABadBytesRowInTrainingIsOneErrorNamingTheRowNotMLNetsWrapper()
    {
        // Found by an outside API sweep: ML.NET decodes a LoadRawImageBytes column ahead on its own threads, and the
        // decoder's error came out of cursor.MoveNext() inside the "Splitter/consolidator worker" wrapper, with no row.
        var ml = new MLContext(seed: 1);
        var good = ImageFolder.Load(ml, Path.Combine(Root, "folder"));
        var rows = Rows(good).Append(new PathRow { ImagePath = _truncated, Label = "dark" }).ToList();
        var bytes = ml.Transforms.LoadRawImageBytes("ImageBytes", null, ImageFolder.ImagePathColumnName).Fit(Keyed(ml, rows)).Transform(Keyed(ml, rows));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ml.Cnn().ImageClassification(Options("ImageBytes")).Fit(bytes));
        StringAssert.Contains(e.Message, "training data, ");
        StringAssert.Contains(e.Message, "truncated");

        // The bad row is row 16. Found by a later sweep: a row decoded ahead was reported as "row 0", the row the
        // cursor had reached; then as "a row at or after row 0", which did not help find the file among thousands. The row
        // is now found again, and named with the path the bytes were read from.
        TestContext.WriteLine(e.Message);
        StringAssert.Contains(e.Message, $"training data, reading row 16 (ImagePath '{_truncated}'");
        Assert.IsFalse(e.Message.Contains("at or after", StringComparison.Ordinal), e.Message);
    }

    [TestMethod]
    public void AnMLImageColumnIsCheckedBeforeItIsResized()
    {
        // ML.NET's LoadImages decodes before the model sees the column; the model still refuses to resize an image
        // over the limit, so scoring stops with the size named instead of working on 64 megapixels.
        var ml = new MLContext(seed: 1);
        var good = ImageFolder.Load(ml, Path.Combine(Root, "folder"));
        var load = ml.Transforms.LoadImages("Image", null, ImageFolder.ImagePathColumnName);
        using var model = ml.Cnn().ImageClassification(Options("Image")).Fit(load.Fit(good.Data).Transform(good.Data));
        var bomb = Keyed(ml, [new PathRow { ImagePath = _bomb, Label = "dark" }]);
        var e = Unwrap(Assert.Throws<Exception>(() => model.Transform(load.Fit(bomb).Transform(bomb)).GetColumn<float[]>("Score").ToList()));
        Assert.IsInstanceOfType<ImageTooLargeException>(e.InnerException, e.ToString());
        StringAssert.Contains(e.Message, $"{BombSide} x {BombSide}");
    }

    [TestMethod]
    public void TheLimitIsAnOptionAndNamedInTheError()
    {
        var png = File.ReadAllBytes(Path.Combine(Root, "folder", "dark", "0.png"));
        var previous = ImageDecodeLimit.Current;
        try
        {
            ImageDecodeLimit.Current = new ImageDecodeLimit { MaxPixels = 100 };
            var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(png, "posted image"));
            StringAssert.Contains(e.Message, "12 x 12 = 144 pixels");
            StringAssert.Contains(e.Message, "limit of 100 pixels");
            Assert.IsInstanceOfType<ImageTooLargeException>(e.InnerException);

            ImageDecodeLimit.Current = new ImageDecodeLimit { MaxSide = 11 };
            StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(png, "posted image")).Message, "11 a side");
        }
        finally
        {
            ImageDecodeLimit.Current = previous;
        }

        using var image = ImageDecoding.DecodeBytes(png, "posted image");
        Assert.AreEqual(12, image.Width);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ImageDecodeLimit { MaxPixels = 0 });
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ImageDecodeLimit { MaxPixels = int.MaxValue });
        Assert.ThrowsExactly<ArgumentNullException>(() => ImageDecodeLimit.Current = null!);
    }

    [TestMethod]
    public void TheGuardedDecoderGivesTheSamePixelsAsMLImage()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(23, 17, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < 17; y++)
        {
            for (int x = 0; x < 23; x++)
            {
                bitmap.SetPixel(x, y, new SKColor((byte)(x * 11), (byte)(y * 15), (byte)((x + y) * 5), (byte)(255 - (x * 3))));
            }
        }

        using var grey = new SKBitmap(new SKImageInfo(23, 17, SKColorType.Gray8, SKAlphaType.Opaque));
        grey.Erase(new SKColor(90, 90, 90));
        var files = new List<(string Name, byte[] Bytes)>
        {
            ("png with alpha", Encode(bitmap, SKEncodedImageFormat.Png)),
            ("grey png", Encode(grey, SKEncodedImageFormat.Png)),
            ("jpeg", Encode(bitmap, SKEncodedImageFormat.Jpeg)),
            ("webp", Encode(bitmap, SKEncodedImageFormat.Webp)),
            ("crafted grey png", CraftedImages.Png(31, 9, rows: 9)),
        };
        foreach (var (name, bytes) in files)
        {
            using var expected = MLImage.CreateFromStream(new MemoryStream(bytes));
            using var actual = ImageDecoding.DecodeBytes(bytes, name);
            Assert.AreEqual(expected.PixelFormat, actual.PixelFormat, name);
            Assert.AreEqual((expected.Width, expected.Height), (actual.Width, actual.Height), name);
            Assert.IsTrue(expected.Pixels.SequenceEqual(actual.Pixels), $"{name}: pixels differ from MLImage.CreateFromStream's");
        }
    }

    private static byte[] Encode(SKBitmap bitmap, SKEncodedImageFormat format)
    {
        using var data = bitmap.Encode(format, 90);
        return data.ToArray();
    }

    private static ImageClassificationTrainer.Options Options(string column) => new()
    {
        FeatureColumnName = column,
        ImageShape = new ImageShape(1, 12, 12),
        Arch = "resnet18",
        WidthMultiplier = 0.125,
        Epoch = 1,
        BatchSize = 8,
    };

    private static IEnumerable<PathRow> Rows(ImageFolderData folder)
    {
        var paths = folder.Data.GetColumn<string>(ImageFolder.ImagePathColumnName).ToList();
        return paths.Select(p => new PathRow { ImagePath = p, Label = Path.GetFileName(Path.GetDirectoryName(p))! });
    }

    private static IDataView Keyed(MLContext ml, IEnumerable<PathRow> rows) =>
        ImageFolder.KeyedLabels(ml, ml.Data.LoadFromEnumerable(rows.ToList()), Classes);

    private static Exception Unwrap(Exception e)
    {
        while (e is not InvalidDataException && e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }


    private sealed class PathRow
    {
        public string ImagePath { get; set; } = string.Empty;

        public string Label { get; set; } = string.Empty;
    }
}
