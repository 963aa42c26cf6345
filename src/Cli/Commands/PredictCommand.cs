using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetCnn.Cli.CommandLine;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;

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

        var mlContext = new MLContext();
        var model = Load(mlContext, modelPath, out var inputSchema);
        using var modelLifetime = model as IDisposable; // deletes ONNX Runtime's temp copy of the graph
        var input = ModelInput.Find(inputSchema, modelPath);

        // Decode every file first, so one bad file is reported and skipped rather than stopping the run.
        var images = Evaluation.Decode(files, context.Error, Spec.Name, out int unreadable);
        try
        {
            if (images.Count > 0)
            {
                var (predicted, classNames) = Score(mlContext, model, input, images, top, context.Output);
                ReportAccuracy(images, predicted, classNames, context.Error);
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

    /// <summary>Loads a model.zip with the serving package; a file that is not one is a user error naming it.</summary>
    public static ITransformer Load(MLContext mlContext, string modelPath, out DataViewSchema inputSchema)
    {
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"--model: '{modelPath}' does not exist; train one with 'mlnetcnn train'.", modelPath);
        }

        try
        {
            return mlContext.CnnServing().LoadModel(modelPath, out inputSchema);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or InvalidOperationException or IOException)
        {
            throw new InvalidDataException($"--model: '{modelPath}' is not a model saved by 'mlnetcnn train' or ML.NET ({e.Message})", e);
        }
    }

    /// <summary>Prints one line per image and returns each image's most likely class, and the model's classes.</summary>
    private static (List<string> Predicted, IReadOnlyList<string> ClassNames) Score(MLContext mlContext, ITransformer model, ModelInput input, IReadOnlyList<(string Path, MLImage Image)> images, int top, TextWriter output)
    {
        var scored = model.Transform(input.Build(mlContext, images));
        var classNames = mlContext.CnnServing().GetClassNames(scored.Schema);
        var predicted = new List<string>();
        int row = 0;
        foreach (float[] score in scored.GetColumn<float[]>("Score"))
        {
            var best = score.Select((p, k) => (Probability: p, Class: k)).OrderByDescending(s => s.Probability).Take(top).ToList();
            predicted.Add(classNames[best[0].Class]);
            output.WriteLine(images[row++].Path + string.Concat(best.Select(b => string.Create(CultureInfo.InvariantCulture, $"\t{classNames[b.Class]}\t{b.Probability:F4}"))));
        }

        return (predicted, classNames);
    }

    /// <summary>When every image lies in a folder named as a class of the model, the accuracy (on the error writer, so the output stays one line per image).</summary>
    private static void ReportAccuracy(IReadOnlyList<(string Path, MLImage Image)> images, IReadOnlyList<string> predicted, IReadOnlyList<string> classNames, TextWriter error)
    {
        var truth = images.Select(i => Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(i.Path))) ?? string.Empty).ToList();
        var folders = classNames.Select(ImageFolder.FolderName).ToHashSet(StringComparer.Ordinal);
        if (!truth.All(folders.Contains))
        {
            return;
        }

        int right = truth.Zip(predicted).Count(p => p.First == ImageFolder.FolderName(p.Second));
        error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mlnetcnn predict: accuracy {(double)right / truth.Count:P2} ({right} of {truth.Count} images right; their folder names are the labels)."));
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
}
