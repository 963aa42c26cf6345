using System.Globalization;
using System.Net;
using System.Text;
using MLNetCnn.Cli.Commands;

namespace MLNetCnn.Cli.Output;

/// <summary><c>report.html</c>: one self-explaining page per run; the pictures are linked by relative path, so the folder can be moved.</summary>
internal static class HtmlReport
{
    private const string Style = """
        body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
        table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
        th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; }
        td.n { text-align: right; font-variant-numeric: tabular-nums; }
        th { background: #f3f3f3; text-align: left; }
        pre { background: #f6f6f6; padding: 0.7em; white-space: pre-wrap; }
        img { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }
        """;

    private const string IgnoredText = "file(s) ignored: not images by extension, or outside a class folder";
    private const string SkippedText = "image(s) that did not decode";

    /// <summary>Writes the page; <paramref name="confusionImage"/> is null when the confusion matrix had too many classes to draw.</summary>
    public static void Write(string path, TrainingReport report, string lossImage, string accuracyImage, string? confusionImage)
    {
        var c = CultureInfo.InvariantCulture;
        var s = report.Settings;
        var d = report.Data;
        var f = report.Final;
        var t = report.Timing;
        var html = new StringBuilder();
        html.AppendLine("<!DOCTYPE html>").AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.AppendLine(c, $"<title>mlnetcnn: {E(s.Architecture)} on {E(d.Source)}</title><style>{Style}</style></head><body>");
        html.AppendLine(c, $"<h1>{E(s.Architecture)} on {E(d.Source)}: {f.Accuracy:P2} accuracy</h1>");
        html.AppendLine(c, $"<p>Trained {report.Started:yyyy-MM-dd HH:mm:ss zzz} with</p><pre>{E(report.CommandLine)}</pre>");

        html.AppendLine("<h2>Run</h2>");
        Table(html, ["setting", "value"],
        [
            ["architecture", $"{s.Architecture} (width x{s.WidthMultiplier.ToString(c)})"],
            ["input", s.ImageShape],
            ["data", d.Description],
            ["classes", $"{d.ClassNames.Count}: {string.Join(", ", d.ClassNames)}"],
            ["images", string.Create(c, $"{d.TrainImages:N0} training, {d.HeldOutImages:N0} held out ({d.HeldOut})")],
            ["left out", LeftOutText([(d.IgnoredFiles, IgnoredText), (d.SkippedImages, SkippedText), (d.EmptyClassFolders, "class folder(s) without images")])],
            ["recipe", $"{s.Recipe}: {TrainSettings.RecipeDescriptions[s.Recipe]}"],
            ["training", string.Create(c, $"{(s.TimeLimitSeconds is { } limit ? $"{report.Epochs.Count} epochs (time limit {limit:F0} s, at most {s.Epochs})" : $"{s.Epochs} epochs")}, batch {s.BatchSize}, learning rate {s.LearningRate:G4}, label smoothing {s.LabelSmoothing:G3}, mixup {(s.MixupAlpha is { } a ? a.ToString("G3", c) : "off")}, {s.Precision}, seed {s.Seed}")],
            ["augmentation", $"{s.Augmentation}{(s.TestTimeFlip ? "; scored with a test-time flip (the mean of each image and its mirror)" : "")}"],
            ["kernels", s.Kernels],
            ["time", string.Create(c, $"{t.TotalSeconds:F1} s in all: loading {t.LoadSeconds:F1} s, training {t.TrainSeconds:F1} s, evaluation {t.EvaluateSeconds:F1} s, saving {t.SaveSeconds:F1} s")],
        ]);

        html.AppendLine(c, $"<h2>Final metrics ({E(f.EvaluatedOn)}, {f.Images:N0} images)</h2>");
        if (f.IgnoredFiles.Count + f.SkippedImages.Count > 0)
        {
            html.AppendLine(c, $"<p>Left out of these metrics: {E(LeftOutText([(f.IgnoredFiles, IgnoredText), (f.SkippedImages, SkippedText)]))}.</p>");
        }

        Table(html, ["accuracy", "macro accuracy", "log-loss", "log-loss reduction"],
            [[Pct(f.Accuracy), Pct(f.MacroAccuracy), f.LogLoss.ToString("F4", c), f.LogLossReduction.ToString("F4", c)]]);
        html.AppendLine(confusionImage is null
            ? string.Create(c, $"<p>No confusion-matrix picture: {d.ClassNames.Count:N0} classes, more than the {Charts.MaxConfusionClasses} one is drawn for; the counts are in metrics.json (final.confusionMatrix).</p>")
            : $"<img src=\"{E(confusionImage)}\" alt=\"confusion matrix\">");
        Table(html, ["class", "images", "correct", "recall", "precision"],
            f.PerClass.Select(p => new[] { p.Name, p.Count.ToString("N0", c), p.Correct.ToString("N0", c), Pct(p.Recall), Pct(p.Precision) }).ToList());

        html.AppendLine("<h2>Training curves</h2>");
        html.AppendLine(c, $"<img src=\"{E(lossImage)}\" alt=\"loss per epoch\">");
        html.AppendLine(c, $"<img src=\"{E(accuracyImage)}\" alt=\"accuracy per epoch\">");
        Table(html, ["epoch", "train loss", "train accuracy", "validation loss", "validation accuracy", "learning rate", "seconds", "images/s"],
            report.Epochs.Select(e => new[]
            {
                e.Epoch.ToString(c), e.TrainLoss.ToString("F4", c), Pct(e.TrainAccuracy),
                e.ValidationLoss?.ToString("F4", c) ?? "-", Pct(e.ValidationAccuracy),
                e.LearningRate.ToString("G4", c), e.Seconds.ToString("F1", c), e.ImagesPerSecond.ToString("F0", c),
            }).ToList());
        html.AppendLine("<p>Files: <a href=\"model.zip\">model.zip</a> (ML.NET), <a href=\"model.onnx\">model.onnx</a>, <a href=\"metrics.json\">metrics.json</a>.</p>");
        html.AppendLine("</body></html>");
        File.WriteAllText(path, html.ToString());
    }

    /// <summary>What a folder's reading left out (the names are in metrics.json), or "nothing".</summary>
    private static string LeftOutText(IEnumerable<(LeftOut LeftOut, string What)> kinds)
    {
        var parts = kinds
            .Where(p => p.LeftOut.Count > 0)
            .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.LeftOut.Count:N0} {p.What} ({string.Join(", ", p.LeftOut.Names.Take(5))}{(p.LeftOut.Count > 5 ? ", ..." : string.Empty)})"));
        return string.Join("; ", parts) is { Length: > 0 } text ? text + $"; metrics.json names the first {LeftOut.MaxNames} of each" : "nothing";
    }

    private static void Table(StringBuilder html, string[] header, IReadOnlyList<string[]> rows)
    {
        html.Append("<table><tr>").AppendJoin(string.Empty, header.Select(h => $"<th>{E(h)}</th>")).AppendLine("</tr>");
        foreach (var row in rows)
        {
            html.Append("<tr>").AppendJoin(string.Empty, row.Select(cell => $"<td{(IsNumber(cell) ? " class=\"n\"" : string.Empty)}>{E(cell)}</td>")).AppendLine("</tr>");
        }

        html.AppendLine("</table>");
    }

    private static bool IsNumber(string cell) => double.TryParse(cell.TrimEnd('%', ' '), NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out _);

    private static string Pct(double? value) => value?.ToString("P2", CultureInfo.InvariantCulture) ?? "-";

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
