using Microsoft.ML;
using MLNetCnn.Cli.CommandLine;
using MLNetCnn.Cli.Output;
using MLNetCnn.Serving;

namespace MLNetCnn.Cli.Commands;

/// <summary><c>evaluate</c>: scores a labelled test folder with a saved model and prints accuracy, a per-class table and the confusion matrix.</summary>
internal static class EvaluateCommand
{
    public static readonly CommandSpec Spec = new(
        "evaluate",
        "Score a labelled test folder with a model.zip; print accuracy, per-class figures and the confusion matrix.",
        "mlnetcnn evaluate --model <model.zip> --data <folder>",
        [
            new("model", "<model.zip>", "The ML.NET model to evaluate."),
            new("data", "<folder>", "A folder with one sub-folder per class, named as the model's classes (some classes may be missing)."),
            DecodeLimitOption.Spec,
        ],
        """
        The sub-folders are matched to the model's class names (a class name with '/' matches a folder named with '-'),
        so a folder holding only some of the classes is scored against the right ones; a sub-folder that names no class
        of the model is an error that lists the model's classes. Files that do not decode are reported and skipped, and
        the exit code is then 1 (as predict's), after the metrics of the rest.

        Example: mlnetcnn evaluate --model runs/photos/model.zip --data photos-test
        """);

    public static int Run(Arguments arguments, CommandContext context)
    {
        string modelPath = arguments.Required("model");
        string folder = arguments.Required("data");
        if (arguments.Positionals.Count > 0)
        {
            throw new UsageException($"unexpected argument '{arguments.Positionals[0]}' (options are written --name value).");
        }

        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException(File.Exists(folder)
                ? $"--data: '{folder}' is a file; expected a folder with one sub-folder of images per class."
                : $"--data: folder '{folder}' does not exist; expected one sub-folder of images per class.");
        }

        var mlContext = new MLContext();
        var model = PredictCommand.Load(mlContext, modelPath, out var inputSchema);
        using var modelLifetime = model as IDisposable;
        var classNames = mlContext.CnnServing().GetClassNames(model, inputSchema);

        // Progress goes to stderr, so stdout holds the figures alone (150,000 images took 114 s in silence before).
        var progress = ProgressDisplay.For(context.Error);
        var images = Evaluation.LabelledFolder(mlContext, folder, classNames, progress, context.Error, Spec.Name, context.Cancellation);
        var scorer = ModelInput.Find(model, inputSchema, modelPath).Scorer(mlContext, model);
        var final = Evaluation.Run(mlContext, scorer, images, progress, context.Error, Spec.Name, $"test folder {Path.GetFullPath(folder)}", context.Cancellation);
        Evaluation.Print(final, context.Output);

        // As predict: the figures are printed, but a run that left images out exits with 1, so a script notices.
        long skipped = final.SkippedImages.Count;
        if (skipped > 0)
        {
            context.Error.WriteLine($"mlnetcnn evaluate: {skipped} image file(s) left out of the metrics (the 'skipped' lines above); exit code 1.");
            return 1;
        }

        return 0;
    }
}
