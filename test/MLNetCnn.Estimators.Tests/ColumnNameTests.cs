using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Found by an outside API sweep: an embedding named as its input column, or a pixel column named "Score", ran the
/// whole fit and then failed in ONNX Runtime ("Duplicate definition of name"); a featurizer with a non-square shape
/// fitted and failed at its first Transform. Each is now refused before any work, naming the column.
/// </summary>
[TestClass]
public sealed class ColumnNameTests
{
    private static readonly string[] Classes = ["a", "b", "c"];

    [TestMethod]
    public void AnEmbeddingNamedAsItsInputIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var options = new ImageFeaturizerEstimator.Options { WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), OutputColumnName = "Features" };
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().ImageFeaturizer(options).Fit(Data(ml, "Features")));
        StringAssert.Contains(e.Message, "OutputColumnName 'Features' is the name of the input column");
    }

    [TestMethod]
    public void AFeaturizerOfANonSquareShapeIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var options = new ImageFeaturizerEstimator.Options { WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 4, 16) };
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().ImageFeaturizer(options).Fit(Data(ml, "Features")));
        StringAssert.Contains(e.Message, "only square images");
    }

    [TestMethod]
    public void APixelColumnNamedAsAnOutputIsRefusedBeforeTraining()
    {
        var ml = new MLContext(seed: 1);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8, FeatureColumnName = ServingPipeline.ScoreColumnName };
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().ImageClassification(options).Fit(Data(ml, ServingPipeline.ScoreColumnName)));
        StringAssert.Contains(e.Message, "Feature column 'Score' has the name of a column the model adds");

        // Found by a later sweep: GetOutputSchema silently replaced the column where Fit refuses it.
        var shape = SchemaShapes.FromSchema(Data(ml, ServingPipeline.ScoreColumnName).Schema);
        var promised = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().ImageClassification(options).GetOutputSchema(shape));
        StringAssert.Contains(promised.Message, "Feature column 'Score' has the name of a column the model adds");
    }

    [TestMethod]
    public void ADataColumnNamedAsTheInternalPixelColumnIsRefusedBeforeTraining()
    {
        // Found by a sweep: GetOutputSchema promised the user's column, Fit trained the whole network, then scoring failed.
        var ml = new MLContext(seed: 1);
        var rows = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 4).Select(i => new PathRow { ImagePath = $"/no/such/{i}.png", Label = Classes[i % 2] }));
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(rows).Transform(rows);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8, FeatureColumnName = "ImagePath" };
        var fit = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().ImageClassification(options).Fit(data));
        StringAssert.Contains(fit.Message, $"a column named '{ImageInput.PixelColumnName}'");
        var promised = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().ImageClassification(options).GetOutputSchema(SchemaShapes.FromSchema(data.Schema)));
        StringAssert.Contains(promised.Message, $"a column named '{ImageInput.PixelColumnName}'");
    }

    [TestMethod]
    public void AnArchitectureGivenWhereTheLabelColumnGoesIsNamedAsSuch()
    {
        // Found by an outside sweep: README's "takes a registered name as a shortcut" read as ImageClassification("resnet18"),
        // which looks for a label column "resnet18"; the error listed the hidden Label twice and the internal pixel column.
        var ml = new MLContext(seed: 1);
        var rows = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 4).Select(i => new PlainPathRow { ImagePath = $"/no/such/{i}.png", Label = Classes[i % 2] }));
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(rows).Transform(rows);
        var fit = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Cnn().ImageClassification("resnet18").Fit(data));
        StringAssert.Contains(fit.Message, "Label column 'resnet18' not found. Columns: ImagePath, Label. 'resnet18' is an architecture: the first argument of ImageClassification is the label column's name, so give the architecture as arch: \"resnet18\".");
        var promised = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Cnn().ImageClassification("resnet18").GetOutputSchema(SchemaShapes.FromSchema(data.Schema)));
        StringAssert.Contains(promised.Message, "give the architecture as arch: \"resnet18\"");
        var other = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Cnn().ImageClassification("Kind").Fit(data));
        Assert.IsFalse(other.Message.Contains("architecture", StringComparison.Ordinal), other.Message);
    }

    private sealed class PlainPathRow
    {
        public string ImagePath { get; set; } = string.Empty;

        public string Label { get; set; } = string.Empty;
    }

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = string.Empty;

        public string Label { get; set; } = string.Empty;

        [ColumnName("mlnetcnn_pixels")]
        public float Pixels { get; set; }
    }

    private static IDataView Data(MLContext ml, string featureName)
    {
        var data = TestData.Tiny(ml, 12, Classes);
        return featureName == "Features" ? data : ml.Transforms.CopyColumns(featureName, "Features").Fit(data).Transform(data);
    }
}
