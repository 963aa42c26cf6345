using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Cli.Output;
using MLNetCnn.Serving;

namespace MLNetCnn.Cli.Commands;

/// <summary>Scoring labelled image files with a model: ML.NET's metrics, keyed on the model's class names, and their printout.</summary>
internal static class Evaluation
{
    /// <summary>
    /// The labelled images of a test folder (<see cref="ImageFolder.LoadLabelled"/>: sub-folders name classes of the model;
    /// an unknown one is an error naming it and the model's classes): their paths and class names. Files that do not
    /// decode and files ignored by extension are reported on <paramref name="error"/> and returned with them; the check of
    /// every file shows on <paramref name="progress"/>, and <paramref name="cancellation"/> (Ctrl+C) stops it between files.
    /// </summary>
    public static LabelledImages LabelledFolder(MLContext mlContext, string folder, IReadOnlyList<string> classNames, ProgressDisplay progress, TextWriter error, string command, CancellationToken cancellation)
    {
        var data = ImageFolder.LoadLabelled(mlContext, folder, classNames, skipUnreadable: true, progress: progress.Decoding, cancellationToken: cancellation);
        progress.Clear();
        foreach (string reason in data.Skipped)
        {
            error.WriteLine($"mlnetcnn {command}: skipped: {ClassFolderNames.Visible(reason)}");
        }

        if (DecodeLimitOption.Hint(data.Skipped.Count(DecodeLimitOption.IsOverTheLimit)) is { } hint)
        {
            error.WriteLine($"mlnetcnn {command}: {hint}");
        }

        if (LeftOut.Describe(data.Ignored, "file ignored (not an image by its extension, or outside a class folder)", "files ignored (not images by their extension, or outside a class folder)") is { } ignored)
        {
            error.WriteLine($"mlnetcnn {command}: {ignored}");
        }

        if (LeftOut.UnreadImages(data.Ignored) is { } unread)
        {
            error.WriteLine($"mlnetcnn {command}: {unread}");
        }

        var paths = data.Data.GetColumn<string>(ImageFolder.ImagePathColumnName).ToList();
        var labels = data.Data.GetColumn<uint>(ModelInput.LabelColumnName).Select(k => classNames[(int)k - 1]).ToList();
        return new LabelledImages(paths, labels, data.Skipped, data.Ignored);
    }

    /// <summary>
    /// ML.NET's multiclass metrics of <paramref name="scorer"/>'s model on labelled files, in the model's class order.
    /// The files are scored one at a time (memory stays that of one decoded image), shown on <paramref name="progress"/>;
    /// one that does not decode is reported on <paramref name="error"/> and left out. The metrics record what was left out:
    /// the folder's files skipped or ignored when it was read, and those that failed here. <paramref name="cancellation"/>
    /// (Ctrl+C) stops it between files; before, evaluate said it was stopping and scored every remaining file.
    /// </summary>
    public static FinalMetrics Run(MLContext mlContext, FileScorer scorer, LabelledImages images, ProgressDisplay progress, TextWriter error, string command, string evaluatedOn, CancellationToken cancellation = default)
    {
        var (paths, labels) = (images.Paths, images.Labels);
        int skippedBefore = scorer.Skipped.Count;
        var classNames = scorer.ClassNames;
        var rows = new List<ScoredRow>();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        // A skipped file's line is written once the bar (on the same terminal, for evaluate) is erased, not after it.
        using var skippedLine = new StringWriter(CultureInfo.InvariantCulture);
        for (int i = 0; i < paths.Count; i++)
        {
            ScoringCancelled.ThrowIf(cancellation, rows.Count, i - rows.Count, paths.Count, progress);
            if (scorer.TryScore(paths[i], skippedLine, command) is { } score)
            {
                int best = Array.IndexOf(score, score.Max());
                rows.Add(new ScoredRow { Label = labels[i], Score = score, PredictedLabel = classNames[best] });
            }
            else
            {
                progress.Clear();
                error.Write(skippedLine.ToString());
                skippedLine.GetStringBuilder().Clear();
            }

            progress.Scoring(i + 1, paths.Count, clock.Elapsed);
        }

        progress.Clear();

        if (rows.Count == 0)
        {
            throw new InvalidDataException($"{evaluatedOn}: no image could be scored.");
        }

        var definition = SchemaDefinition.Create(typeof(ScoredRow));
        definition[nameof(ScoredRow.Score)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, classNames.Count);
        var view = mlContext.Data.LoadFromEnumerable(rows, definition);
        var keys = mlContext.Data.LoadFromEnumerable(classNames.Select(n => new KeyRow { Label = n }));
        var keyed = mlContext.Transforms.Conversion.MapValueToKey([new InputOutputColumnPair(nameof(ScoredRow.Label)), new InputOutputColumnPair(nameof(ScoredRow.PredictedLabel))], keyData: keys).Fit(view).Transform(view);
        var metrics = mlContext.MulticlassClassification.Evaluate(keyed, labelColumnName: nameof(ScoredRow.Label));
        return FinalMetrics.From(metrics, classNames, evaluatedOn) with
        {
            IgnoredFiles = LeftOut.Of(images.Ignored),
            SkippedImages = LeftOut.Of([.. images.Skipped, .. scorer.Skipped.Skip(skippedBefore)]),
        };
    }

    /// <summary>Accuracy, a per-class table (classes without images shown as such) and the confusion matrix with class names.</summary>
    public static void Print(FinalMetrics final, TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        int present = final.PerClass.Count(p => p.Count > 0);
        output.WriteLine(string.Create(c, $"Accuracy {final.Accuracy:P2} (macro {final.MacroAccuracy:P2}, log-loss {final.LogLoss:F4}) on {final.Images:N0} images of {present} of the model's {final.PerClass.Count} classes ({final.EvaluatedOn})."));
        output.WriteLine();
        int width = Math.Max(5, final.PerClass.Max(p => TerminalText.Width(p.Name)));
        output.WriteLine(string.Create(c, $"{"class".PadRight(width)}  {"images",7}  {"correct",7}  {"recall",8}  {"precision",9}"));
        for (int k = 0; k < final.PerClass.Count; k++)
        {
            var p = final.PerClass[k];
            string recall = p.Recall?.ToString("P1", c) ?? "-";
            string precision = p.Precision?.ToString("P1", c) ?? "-";
            output.WriteLine(string.Create(c, $"{TerminalText.PadRight(p.Name, width)}  {p.Count,7}  {p.Correct,7}  {recall,8}  {precision,9}"));
        }

        output.WriteLine();
        if (final.PerClass.Count <= Charts.LabelledClasses)
        {
            PrintMatrix(final, output, width);
        }
        else
        {
            PrintMostConfused(final, output);
        }
    }

    /// <summary>Pairs listed past <see cref="Charts.LabelledClasses"/> classes, where the whole matrix is too wide to read.</summary>
    internal const int MostConfusedPairs = 20;

    private static void PrintMatrix(FinalMetrics final, TextWriter output, int width)
    {
        var c = CultureInfo.InvariantCulture;
        output.WriteLine("Confusion matrix (rows: actual class, columns: predicted class):");
        int cell = Math.Max(6, final.PerClass.Max(p => TerminalText.Width(p.Name)));
        output.WriteLine(new string(' ', width + 2) + string.Join(' ', final.PerClass.Select(p => TerminalText.PadLeft(p.Name, cell))));
        for (int row = 0; row < final.PerClass.Count; row++)
        {
            output.WriteLine(TerminalText.PadRight(final.PerClass[row].Name, width + 2) + string.Join(' ', final.ConfusionMatrix[row].Select(v => v.ToString(c).PadLeft(cell))));
        }
    }

    /// <summary>Past <see cref="Charts.LabelledClasses"/> classes a printed matrix would be thousands of columns wide: the most frequent mistakes instead.</summary>
    private static void PrintMostConfused(FinalMetrics final, TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        int n = final.PerClass.Count;
        var mistakes = new List<(long Count, int Actual, int Predicted)>();
        for (int actual = 0; actual < n; actual++)
        {
            for (int predicted = 0; predicted < n; predicted++)
            {
                long count = final.ConfusionMatrix[actual][predicted];
                if (actual != predicted && count > 0)
                {
                    mistakes.Add((count, actual, predicted));
                }
            }
        }

        var top = mistakes.OrderByDescending(m => m.Count).ThenBy(m => m.Actual).ThenBy(m => m.Predicted).Take(MostConfusedPairs).ToList();
        output.WriteLine(string.Create(c, $"The confusion matrix has {n:N0} classes, too many to print (up to {Charts.LabelledClasses} are); the {top.Count} most frequent of {mistakes.Count:N0} kinds of mistake:"));
        foreach (var (count, actual, predicted) in top)
        {
            output.WriteLine(string.Create(c, $"  {count,7}  {final.PerClass[actual].Name} predicted as {final.PerClass[predicted].Name}"));
        }
    }

    private sealed class ScoredRow
    {
        public string Label { get; set; } = string.Empty;

        public float[] Score { get; set; } = [];

        public string PredictedLabel { get; set; } = string.Empty;
    }

    private sealed class KeyRow
    {
        public string Label { get; set; } = string.Empty;
    }
}

/// <summary>The labelled images of a test folder, and what its reading left out.</summary>
/// <param name="Paths">Image files that decoded when checked.</param>
/// <param name="Labels">Their class names, in the same order.</param>
/// <param name="Skipped">Image files that did not decode, each with the reason.</param>
/// <param name="Ignored">Files not read: not images by extension, or outside any class folder.</param>
internal sealed record LabelledImages(List<string> Paths, List<string> Labels, IReadOnlyList<string> Skipped, IReadOnlyList<string> Ignored);
