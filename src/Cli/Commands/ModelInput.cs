using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetCnn.Serving;

namespace MLNetCnn.Cli.Commands;

/// <summary>The column a saved model scores: image paths (text), encoded bytes, or a pixel vector of C x N x N.</summary>
internal sealed record ModelInput(string Column, DataViewType Type, int Channels, int Size)
{
    /// <summary>The label column <see cref="Build"/> adds when it is given labels (text, keyed afterwards on the model's classes).</summary>
    public const string LabelColumnName = "Label";

    public static ModelInput Find(DataViewSchema schema, string modelPath)
    {
        var columns = schema.Where(c => !c.IsHidden && c.Name != LabelColumnName).Cast<DataViewSchema.Column?>().ToList();
        var column = columns.FirstOrDefault(c => c!.Value.Name == ImageFolder.ImagePathColumnName && c.Value.Type is TextDataViewType)
            ?? columns.FirstOrDefault(c => c!.Value.Type is TextDataViewType or VectorDataViewType { ItemType: NumberDataViewType });
        if (column is not { } found)
        {
            throw new InvalidDataException($"Model '{modelPath}' takes no image column this command can build (image paths, encoded bytes or a pixel vector); its input columns: {string.Join(", ", schema.Select(c => $"{c.Name} ({c.Type})"))}.");
        }

        int size = found.Type is VectorDataViewType { ItemType: var item, Size: > 0 and var length } && item == NumberDataViewType.Single ? length : 0;
        int grey = (int)Math.Round(Math.Sqrt(size));
        int colour = (int)Math.Round(Math.Sqrt(size / 3.0));
        return grey * grey == size ? new ModelInput(found.Name, found.Type, 1, grey)
            : 3 * colour * colour == size ? new ModelInput(found.Name, found.Type, 3, colour)
            : new ModelInput(found.Name, found.Type, 0, 0);
    }

    /// <summary>The model's input column for decoded images, and a text <see cref="LabelColumnName"/> when <paramref name="labels"/> are given.</summary>
    public IDataView Build(MLContext mlContext, IReadOnlyList<(string Path, MLImage Image)> images, IReadOnlyList<string>? labels = null)
    {
        string Label(int i) => labels?[i] ?? string.Empty;
        if (Type is TextDataViewType)
        {
            return Load(mlContext, images.Select((img, i) => new PathRow { Path = Path.GetFullPath(img.Path), Label = Label(i) }), labels is not null);
        }

        if (Type is VectorDataViewType { ItemType: var item } && item == NumberDataViewType.Byte)
        {
            return Load(mlContext, images.Select((img, i) => new BytesRow { Bytes = File.ReadAllBytes(img.Path), Label = Label(i) }), labels is not null);
        }

        if (Size == 0)
        {
            throw new InvalidDataException($"The model's input column '{Column}' is {Type}: neither image paths, encoded bytes nor a square grey or RGB pixel vector.");
        }

        // A pixel model: resize (stretching, as the trainer does for image columns), grey when it has one channel, 0..255 channels first.
        var decoded = mlContext.Data.LoadFromEnumerable(images.Select((img, i) => new ImageRow { Image = img.Image, Label = Label(i) }));
        const string resized = "mlnetcnn_cli_resized", grey = "mlnetcnn_cli_grey";
        IEstimator<ITransformer> pipeline = mlContext.Transforms.ResizeImages(resized, Size, Size, nameof(ImageRow.Image), ImageResizingEstimator.ResizingKind.Fill);
        if (Channels == 1)
        {
            pipeline = pipeline.Append(mlContext.Transforms.ConvertToGrayscale(grey, resized));
        }

        var colours = Channels == 1 ? ImagePixelExtractingEstimator.ColorBits.Red : ImagePixelExtractingEstimator.ColorBits.Rgb;
        pipeline = pipeline.Append(mlContext.Transforms.ExtractPixels(Column, Channels == 1 ? grey : resized, colours, interleavePixelColors: false, outputAsFloatArray: true));
        if (labels is null)
        {
            pipeline = pipeline.Append(mlContext.Transforms.DropColumns(LabelColumnName));
        }

        return pipeline.Fit(decoded).Transform(decoded);
    }

    private IDataView Load<TRow>(MLContext mlContext, IEnumerable<TRow> rows, bool withLabels)
        where TRow : class
    {
        var definition = SchemaDefinition.Create(typeof(TRow));
        definition[0].ColumnName = Column;
        var view = mlContext.Data.LoadFromEnumerable(rows, definition);
        return withLabels ? view : mlContext.Transforms.DropColumns(LabelColumnName).Fit(view).Transform(view);
    }

    private sealed class PathRow
    {
        public string Path { get; set; } = string.Empty;

        public string Label { get; set; } = string.Empty;
    }

    private sealed class BytesRow
    {
        [VectorType]
        public byte[] Bytes { get; set; } = [];

        public string Label { get; set; } = string.Empty;
    }

    private sealed class ImageRow
    {
        [ImageType(1, 1)]
        public MLImage? Image { get; set; }

        public string Label { get; set; } = string.Empty;
    }
}
