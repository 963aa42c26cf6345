using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetCnn.Cli.CommandLine;
using MLNetCnn.Cli.Output;
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
            DecodeLimitOption.Spec,
        ],
        """
        Prints one line per image: path<TAB>label<TAB>probability; with --top K, K label and probability
        pairs, most likely first. Control characters in a path are printed as escapes (\t, \n, \u001b). Folders are searched recursively for jpg, jpeg, jpe, jfif, png, bmp, gif and webp files.
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

        var files = FindImages(arguments.Positionals, out var missing, out var ignored);
        foreach (string path in missing)
        {
            context.Error.WriteLine($"mlnetcnn predict: '{path}' does not exist.");
        }

        if (LeftOut.Describe(ignored, "file in the folders given ignored (not an image by its extension)", "files in the folders given ignored (not images by their extension)") is { } ignoredLine)
        {
            context.Error.WriteLine("mlnetcnn predict: " + ignoredLine);
        }

        if (LeftOut.UnreadImages(ignored) is { } unread)
        {
            context.Error.WriteLine("mlnetcnn predict: " + unread);
        }

        var mlContext = new MLContext();
        var model = Load(mlContext, modelPath, out var inputSchema);
        using var modelLifetime = model as IDisposable; // deletes ONNX Runtime's temp copy of the graph
        var scorer = ModelInput.Find(model, inputSchema, modelPath).Scorer(mlContext, model);

        // One file at a time: memory stays that of one decoded image whatever the folder holds, each line is printed
        // as soon as it is scored, and a bad file is reported and skipped without stopping the run.
        int unreadable = 0;
        var scored = new List<(string? Given, string Own, string Predicted)>();
        foreach (var (file, given, own) in files)
        {
            ScoringCancelled.ThrowIf(context.Cancellation, scored.Count, unreadable, files.Count);
            if (scorer.TryScore(file, context.Error, Spec.Name) is not { } score)
            {
                unreadable++;
                continue;
            }

            var best = score.Select((p, k) => (Probability: p, Class: k)).OrderByDescending(s => s.Probability).Take(top).ToList();
            scored.Add((given, own, scorer.ClassNames[best[0].Class]));
            context.Output.WriteLine(ClassFolderNames.Visible(file) + string.Concat(best.Select(b => string.Create(CultureInfo.InvariantCulture, $"\t{scorer.ClassNames[b.Class]}\t{b.Probability:F4}"))));
        }

        if (scored.Count > 0)
        {
            ReportAccuracy(scored, scorer.ClassNames, context.Error);
        }

        if (DecodeLimitOption.Hint(scorer.OverTheLimit) is { } hint)
        {
            context.Error.WriteLine("mlnetcnn predict: " + hint);
        }

        if (files.Count == 0 && missing.Count == 0)
        {
            context.Error.WriteLine("mlnetcnn predict: no image files (jpg, jpeg, jpe, jfif, png, bmp, gif, webp) found.");
            return 1;
        }

        return missing.Count + unreadable > 0 ? 1 : 0;
    }

    /// <summary>Loads a model.zip with the serving package; a file that is not one is a user error naming it.</summary>
    public static ITransformer Load(MLContext mlContext, string modelPath, out DataViewSchema inputSchema)
    {
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException(Directory.Exists(modelPath)
                ? $"--model: '{modelPath}' is a folder; give the model.zip in it (what 'mlnetcnn train' writes into --output)."
                : $"--model: '{modelPath}' does not exist; train one with 'mlnetcnn train'.", modelPath);
        }

        ITransformer model;
        DataViewSchema? schema;
        try
        {
            model = mlContext.CnnServing().LoadModel(modelPath, out schema);
        }
        catch (InvalidDataException e)
        {
            // The serving catalog's errors name the file and say what is wrong with it (damaged, or saved by another version).
            throw new InvalidDataException($"--model: {e.Message}", e);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or IOException)
        {
            throw new InvalidDataException($"--model: '{modelPath}' is not a model saved by 'mlnetcnn train' or ML.NET ({e.Message})", e);
        }

        if (schema is null)
        {
            // Model.Save(model, null, path) is lawful ML.NET, but then nothing says which column holds the images.
            (model as IDisposable)?.Dispose();
            throw new InvalidDataException($"--model: '{modelPath}' was saved without its input schema (mlContext.Model.Save(model, null, path)), so nothing says which column takes the images; save it with the training data's schema: mlContext.Model.Save(model, trainData.Schema, path).");
        }

        inputSchema = schema;
        return model;
    }

    /// <summary>When every image's class folder (<see cref="FindImages"/>) is named as a class of the model, the accuracy (on the error writer, so the output stays one line per image).</summary>
    private static void ReportAccuracy(IReadOnlyList<(string? Given, string Own, string Predicted)> scored, IReadOnlyList<string> classNames, TextWriter error)
    {
        var folders = classNames.Select(ImageFolder.FolderName).ToHashSet(StringComparer.Ordinal);
        var truth = scored.Select(s => s.Given is { } given && folders.Contains(given) ? given : s.Own).ToList();
        if (!truth.All(folders.Contains))
        {
            return;
        }

        int right = truth.Zip(scored).Count(p => p.First == ImageFolder.FolderName(p.Second.Predicted));
        error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mlnetcnn predict: accuracy {(double)right / truth.Count:P2} ({right} of {truth.Count} images right; their folder names are the labels)."));
    }

    /// <summary>
    /// The image files given and found in the folders given, each with what names its class as training and evaluate read
    /// it: for a folder given, the folder's own name (its class when the model has one of that name) and the name of its
    /// sub-folder holding the image, however deep the image lies; for a file, its folder's name. Before, only the folder
    /// directly holding an image named its class, so an outside sweep's <c>cat/kittens/1.jpg</c> (a "cat" image to train
    /// and evaluate) left predict without an accuracy, and <c>cat/dog/1.jpg</c> counted as a "dog".
    /// </summary>
    private static List<(string Path, string? Given, string Own)> FindImages(IEnumerable<string> paths, out List<string> missing, out List<string> ignored)
    {
        var files = new List<(string Path, string? Given, string Own)>();
        missing = [];
        ignored = [];
        foreach (string path in paths)
        {
            if (Directory.Exists(path))
            {
                string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
                var listing = ImageFolder.ListFiles(root);
                files.AddRange(listing.Images.Select(f => (f, (string?)Path.GetFileName(root), Path.GetRelativePath(root, f).Split(Path.DirectorySeparatorChar)[0])));
                ignored.AddRange(listing.Ignored);
            }
            else if (File.Exists(path))
            {
                files.Add((path, null, Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) ?? string.Empty));
            }
            else
            {
                missing.Add(path);
            }
        }

        return files;
    }
}
