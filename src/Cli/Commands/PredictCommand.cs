using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetCnn.Cli.CommandLine;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;

namespace MLNetCnn.Cli.Commands;

/// <summary><c>predict</c>: classifies image files with a saved model.</summary>
internal static class PredictCommand
{
    public static readonly CommandSpec Spec = new(
        "predict",
        "Classify image files with a model.zip written by 'train'.",
        "mlnetcnn predict --model <model.zip> [--top K] <image file or folder>...",
        [
            new("model", "<model.zip>", "The ML.NET model to load."),
            new("top", "<K>", "Print the K most likely classes per image (default 1)."),
        ],
        """
        Prints one line per image: path<TAB>label<TAB>probability; with --top K, K label and probability
        pairs, most likely first. Folders are searched recursively for jpg, jpeg, png, bmp, gif and webp files.
        A model trained on image paths decodes and resizes each file itself; for a pixel model (Fashion-MNIST)
        each image is resized to the model's input and converted to grey, so it should look like the training
        images (Fashion-MNIST: a light garment on a black background).

        Example: mlnetcnn predict --model runs/photos/model.zip photos/cat/1.jpg more-photos/
        """);

    public static int Run(Arguments arguments, CommandContext context)
    {
        string modelPath = arguments.Required("model");
        int top = arguments.Int("top", 1, min: 1);
        if (arguments.Positionals.Count == 0)
        {
            throw new UsageException("give one or more image files or folders after the options.");
        }

        var files = FindImages(arguments.Positionals, out var missing);
        foreach (string path in missing)
        {
            context.Error.WriteLine($"mlnetcnn predict: '{path}' does not exist.");
        }

        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"--model: '{modelPath}' does not exist; train one with 'mlnetcnn train'.", modelPath);
        }

        var mlContext = new MLContext();
        var model = Load(mlContext, modelPath, out var inputSchema);
        using var modelLifetime = model as IDisposable; // deletes ONNX Runtime's temp copy of the graph
        var input = ModelInput.Find(inputSchema, modelPath);

        // Decode every file first, so one bad file is reported and skipped rather than stopping the run.
        var images = new List<(string Path, MLImage Image)>();
        int unreadable = 0;
        foreach (string file in files)
        {
            try
            {
                images.Add((file, ImageDecoding.DecodeFile(file)));
            }
            catch (InvalidDataException e)
            {
                context.Error.WriteLine($"mlnetcnn predict: skipped: {e.Message}");
                unreadable++;
            }
        }

        try
        {
            if (images.Count > 0)
            {
                Score(mlContext, model, input, images, top, context.Output);
            }
        }
        finally
        {
            images.ForEach(i => i.Image.Dispose());
        }

        if (files.Count == 0 && missing.Count == 0)
        {
            context.Error.WriteLine("mlnetcnn predict: no image files (jpg, jpeg, png, bmp, gif, webp) found.");
            return 1;
        }

        return missing.Count + unreadable > 0 ? 1 : 0;
    }

    private static ITransformer Load(MLContext mlContext, string modelPath, out DataViewSchema inputSchema)
    {
        try
        {
            return mlContext.Cnn().LoadModel(modelPath, out inputSchema);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or InvalidOperationException or IOException)
        {
            throw new InvalidDataException($"--model: '{modelPath}' is not a model saved by 'mlnetcnn train' or ML.NET ({e.Message})", e);
        }
    }

    private static void Score(MLContext mlContext, ITransformer model, ModelInput input, IReadOnlyList<(string Path, MLImage Image)> images, int top, TextWriter output)
    {
        var scored = model.Transform(input.Build(mlContext, images));
        var classNames = mlContext.Cnn().GetClassNames(scored.Schema);
        int row = 0;
        foreach (float[] score in scored.GetColumn<float[]>("Score"))
        {
            var best = score.Select((p, k) => (Probability: p, Class: k)).OrderByDescending(s => s.Probability).Take(top);
            output.WriteLine(images[row++].Path + string.Concat(best.Select(b => string.Create(CultureInfo.InvariantCulture, $"\t{classNames[b.Class]}\t{b.Probability:F4}"))));
        }
    }

    private static List<string> FindImages(IEnumerable<string> paths, out List<string> missing)
    {
        var files = new List<string>();
        missing = [];
        foreach (string path in paths)
        {
            if (Directory.Exists(path))
            {
                files.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                    .Where(f => ImageDecoding.Extensions.Contains(Path.GetExtension(f)))
                    .Order(StringComparer.Ordinal));
            }
            else if (File.Exists(path))
            {
                files.Add(path);
            }
            else
            {
                missing.Add(path);
            }
        }

        return files;
    }

    /// <summary>The column a saved model scores: image paths (text), encoded bytes, or a pixel vector of C x N x N.</summary>
    private sealed record ModelInput(string Column, DataViewType Type, int Channels, int Size)
    {
        public static ModelInput Find(DataViewSchema schema, string modelPath)
        {
            var columns = schema.Where(c => !c.IsHidden && c.Name != ImageData.LabelColumnName).Cast<DataViewSchema.Column?>().ToList();
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

        public IDataView Build(MLContext mlContext, IReadOnlyList<(string Path, MLImage Image)> images)
        {
            if (Type is TextDataViewType)
            {
                return Load(mlContext, images.Select(i => new PathRow { Path = Path.GetFullPath(i.Path) }));
            }

            if (Type is VectorDataViewType { ItemType: var item } && item == NumberDataViewType.Byte)
            {
                return Load(mlContext, images.Select(i => new BytesRow { Bytes = File.ReadAllBytes(i.Path) }));
            }

            if (Size == 0)
            {
                throw new InvalidDataException($"The model's input column '{Column}' is {Type}: neither image paths, encoded bytes nor a square grey or RGB pixel vector.");
            }

            // A pixel model: resize (stretching, as the trainer does for image columns), grey when it has one channel, 0..255 channels first.
            var decoded = mlContext.Data.LoadFromEnumerable(images.Select(i => new DecodedImageRow { Image = i.Image }));
            const string resized = "mlnetcnn_cli_resized", grey = "mlnetcnn_cli_grey";
            IEstimator<ITransformer> pipeline = mlContext.Transforms.ResizeImages(resized, Size, Size, ImageDecoding.DecodedColumnName, ImageResizingEstimator.ResizingKind.Fill);
            if (Channels == 1)
            {
                pipeline = pipeline.Append(mlContext.Transforms.ConvertToGrayscale(grey, resized));
            }

            var colours = Channels == 1 ? ImagePixelExtractingEstimator.ColorBits.Red : ImagePixelExtractingEstimator.ColorBits.Rgb;
            pipeline = pipeline.Append(mlContext.Transforms.ExtractPixels(Column, Channels == 1 ? grey : resized, colours, interleavePixelColors: false, outputAsFloatArray: true));
            return pipeline.Fit(decoded).Transform(decoded);
        }

        private IDataView Load<TRow>(MLContext mlContext, IEnumerable<TRow> rows)
            where TRow : class
        {
            var definition = SchemaDefinition.Create(typeof(TRow));
            definition[0].ColumnName = Column;
            return mlContext.Data.LoadFromEnumerable(rows, definition);
        }
    }

    private sealed class PathRow
    {
        public string Path { get; set; } = string.Empty;
    }

    private sealed class BytesRow
    {
        [VectorType]
        public byte[] Bytes { get; set; } = [];
    }
}
