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
        var scorer = ModelInput.Find(inputSchema, modelPath).Scorer(mlContext, model);

        // One file at a time: memory stays that of one decoded image whatever the folder holds, each line is printed
        // as soon as it is scored, and a bad file is reported and skipped without stopping the run.
        int unreadable = 0;
        foreach (string file in files)
        {
            float[] score;
            try
            {
                score = scorer.Score(file);
            }
            catch (Exception e) when (Unwrap(e) is InvalidDataException invalid)
            {
                context.Error.WriteLine($"mlnetcnn predict: skipped: {invalid.Message}");
                unreadable++;
                continue;
            }

            var best = score.Select((p, k) => (Probability: p, Class: k)).OrderByDescending(s => s.Probability).Take(top);
            context.Output.WriteLine(file + string.Concat(best.Select(b => string.Create(CultureInfo.InvariantCulture, $"\t{scorer.ClassNames[b.Class]}\t{b.Probability:F4}"))));
        }

        if (files.Count == 0 && missing.Count == 0)
        {
            context.Error.WriteLine("mlnetcnn predict: no image files (jpg, jpeg, png, bmp, gif, webp) found.");
            return 1;
        }

        return missing.Count + unreadable > 0 ? 1 : 0;
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is not InvalidDataException && e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
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

        /// <summary>Scores one file at a time on one engine: paths and bytes go to the model as they are; for a pixel model the file is decoded, resized (stretching, as the trainer does for image columns), made grey when it has one channel, and extracted 0..255 channels first.</summary>
        public FileScorer Scorer(MLContext mlContext, ITransformer model)
        {
            if (Type is TextDataViewType)
            {
                var engine = Engine<PathRow>(mlContext, model);
                return new FileScorer(Names(mlContext, engine), file => engine.Predict(new PathRow { Path = Path.GetFullPath(file) }).Score);
            }

            if (Type is VectorDataViewType { ItemType: var item } && item == NumberDataViewType.Byte)
            {
                var engine = Engine<BytesRow>(mlContext, model);
                return new FileScorer(Names(mlContext, engine), file => engine.Predict(new BytesRow { Bytes = ImageDecoding.ReadFile(file) }).Score);
            }

            if (Size == 0)
            {
                throw new InvalidDataException($"The model's input column '{Column}' is {Type}: neither image paths, encoded bytes nor a square grey or RGB pixel vector.");
            }

            const string resized = "mlnetcnn_cli_resized", grey = "mlnetcnn_cli_grey";
            IEstimator<ITransformer> pipeline = mlContext.Transforms.ResizeImages(resized, Size, Size, ImageDecoding.DecodedColumnName, ImageResizingEstimator.ResizingKind.Fill);
            if (Channels == 1)
            {
                pipeline = pipeline.Append(mlContext.Transforms.ConvertToGrayscale(grey, resized));
            }

            var colours = Channels == 1 ? ImagePixelExtractingEstimator.ColorBits.Red : ImagePixelExtractingEstimator.ColorBits.Rgb;
            pipeline = pipeline.Append(mlContext.Transforms.ExtractPixels(Column, Channels == 1 ? grey : resized, colours, interleavePixelColors: false, outputAsFloatArray: true));
            var conversion = pipeline.Fit(mlContext.Data.LoadFromEnumerable(Array.Empty<DecodedImageRow>()));
            var pixels = mlContext.Model.CreatePredictionEngine<DecodedImageRow, ScoreRow>(conversion.Append(model));
            return new FileScorer(Names(mlContext, pixels), file =>
            {
                using var image = ImageDecoding.DecodeFile(file);
                return pixels.Predict(new DecodedImageRow { Image = image }).Score;
            });
        }

        /// <summary>An engine whose input class's one member is bound to the model's column (engines are never disposed: see the README's known issues).</summary>
        private PredictionEngine<TRow, ScoreRow> Engine<TRow>(MLContext mlContext, ITransformer model)
            where TRow : class
        {
            var definition = SchemaDefinition.Create(typeof(TRow));
            definition[0].ColumnName = Column;
            return mlContext.Model.CreatePredictionEngine<TRow, ScoreRow>(model, inputSchemaDefinition: definition);
        }

        private static IReadOnlyList<string> Names<TRow>(MLContext mlContext, PredictionEngine<TRow, ScoreRow> engine)
            where TRow : class => mlContext.Cnn().GetClassNames(engine.OutputSchema);
    }

    /// <summary>The class names in score order and the probabilities of one file.</summary>
    private sealed record FileScorer(IReadOnlyList<string> ClassNames, Func<string, float[]> Score);

    private sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
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
