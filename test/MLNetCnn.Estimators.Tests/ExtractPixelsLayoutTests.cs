using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// The trainer after ML.NET's own image steps (<c>ResizeImages</c>, <c>ExtractPixels</c>), as an outside sweep used it:
/// <c>ExtractPixels</c>' options that give pixels the trainer cannot read as C x H x W floats are refused before any
/// row is read, naming the option. Before, interleaved pixels trained as channels-first without a word, and byte
/// pixels were taken for encoded image files and failed in the first read with "not a decodable image".
/// </summary>
[TestClass]
public sealed class ExtractPixelsLayoutTests
{
    private const int Side = 8;
    private readonly MLContext _ml = new(seed: 1);

    [TestMethod]
    public void InterleavedRgbPixelsAreRefusedNamingTheLayoutAndTheOption()
    {
        var pipeline = Pixels(_ml.Transforms.ExtractPixels("Features", "Resized", interleavePixelColors: true))
            .Append(_ml.Cnn().ImageClassification(Options(new ImageShape(3, Side, Side))));

        var e = Assert.ThrowsExactly<ArgumentException>(() => pipeline.Fit(Images()));

        StringAssert.Contains(e.Message, "'Features'");
        StringAssert.Contains(e.Message, "Vector<Single, 8, 8, 3>");
        StringAssert.Contains(e.Message, "3x8x8");
        StringAssert.Contains(e.Message, "interleavePixelColors: false");
    }

    [TestMethod]
    public void InterleavedRgbPixelsAreRefusedWhenTheShapeIsInferredToo()
    {
        var pipeline = Pixels(_ml.Transforms.ExtractPixels("Features", "Resized", interleavePixelColors: true))
            .Append(_ml.Cnn().ImageClassification(Options(shape: null)));

        var e = Assert.ThrowsExactly<ArgumentException>(() => pipeline.Fit(Images()));

        StringAssert.Contains(e.Message, "interleavePixelColors: false");
    }

    [TestMethod]
    public void BytePixelsAreRefusedByFitAndGetOutputSchemaNamingTheOption()
    {
        var extracted = Pixels(_ml.Transforms.ExtractPixels("Features", "Resized", outputAsFloatArray: false)).Fit(Images()).Transform(Images());
        var trainer = _ml.Cnn().ImageClassification(Options(new ImageShape(3, Side, Side)));

        var fit = Assert.ThrowsExactly<ArgumentException>(() => trainer.Fit(extracted));
        var promised = Assert.ThrowsExactly<ArgumentException>(() => trainer.GetOutputSchema(SchemaShapes.FromSchema(extracted.Schema)));

        foreach (var e in new[] { fit, promised })
        {
            StringAssert.Contains(e.Message, "'Features'");
            StringAssert.Contains(e.Message, "known-size vector of Byte");
            StringAssert.Contains(e.Message, "outputAsFloatArray: true");
        }

        StringAssert.Contains(fit.Message, "Vector<Byte, 3, 8, 8>");
    }

    [TestMethod]
    public void InterleavedGreyPixelsTrainAsTheyAreTheSameValuesInTheSameOrder()
    {
        var pipeline = Pixels(_ml.Transforms.ConvertToGrayscale("Resized").Append(_ml.Transforms.ExtractPixels("Features", "Resized", ImagePixelExtractingEstimator.ColorBits.Red, interleavePixelColors: true)))
            .Append(_ml.Cnn().ImageClassification(Options(new ImageShape(1, Side, Side))));

        var model = pipeline.Fit(Images());

        var scores = model.Transform(Images()).GetColumn<float[]>("Score").ToList();
        Assert.AreEqual(16, scores.Count);
        Assert.IsTrue(scores.All(s => s.Length == 2 && Math.Abs(s.Sum() - 1) < 1e-4), "two probabilities a row");
        (model as IDisposable)?.Dispose();
    }

    /// <summary>ML.NET's image steps in front of the trainer: the label keyed, the image files loaded and resized, then <paramref name="extract"/>.</summary>
    private IEstimator<ITransformer> Pixels(IEstimator<ITransformer> extract) =>
        _ml.Transforms.Conversion.MapValueToKey("Label", "Category")
            .Append(_ml.Transforms.LoadImages("Image", Folder, "ImagePath"))
            .Append(_ml.Transforms.ResizeImages("Resized", Side, Side, "Image"))
            .Append(extract);

    private static ImageClassificationTrainer.Options Options(ImageShape? shape)
    {
        var options = ImageClassificationTrainerTests.SmallOptions();
        options.ImageShape = shape;
        options.WidthMultiplier = 0.125;
        options.BatchSize = 8;
        return options;
    }

    /// <summary>The 16 image files of two classes (dark and light) with their paths, relative to <see cref="Folder"/>.</summary>
    private IDataView Images() => _ml.Data.LoadFromEnumerable(Enumerable.Range(0, 16).Select(i => new ImageRow { ImagePath = $"{i}.png", Category = i % 2 == 0 ? "dark" : "light" }).ToList());

    [ClassInitialize]
    public static void WriteImages(TestContext context)
    {
        Directory.CreateDirectory(Folder);
        for (int i = 0; i < 16; i++)
        {
            byte level = (byte)(i % 2 == 0 ? 40 : 200);
            var rgba = Enumerable.Range(0, Side * Side * 4).Select(j => j % 4 == 3 ? (byte)255 : (byte)(level + (j % 5))).ToArray();
            using var image = MLImage.CreateFromPixels(Side, Side, MLPixelFormat.Rgba32, rgba);
            image.Save(Path.Combine(Folder, $"{i}.png"));
        }
    }

    [ClassCleanup]
    public static void DeleteImages() => Directory.Delete(Folder, recursive: true);

    private static readonly string Folder = Path.Combine(Path.GetTempPath(), "mlnetcnn-extract-pixels-" + Environment.ProcessId);

    private sealed class ImageRow
    {
        public string ImagePath { get; set; } = string.Empty;

        public string Category { get; set; } = string.Empty;
    }
}
