using System.Text.Json;
using Microsoft.ML;
using MLNetCnn.Cli.Commands;
using MLNetCnn.Cli.Output;

namespace MLNetCnn.Cli.Tests;

/// <summary>
/// Per-class figures that do not exist are written as such: a class without held-out images has no recall, and one never
/// predicted no precision. Found by an outside sweep on a folder whose one-image class lent no image to the held-out
/// set: metrics.json and report.html gave it a recall of 0 (as ML.NET does), while evaluate printed "-".
/// </summary>
[TestClass]
public sealed class FinalMetricsTests
{
    [TestMethod]
    public void AClassWithoutImagesHasNoRecallAndAClassNeverPredictedNoPrecision()
    {
        // Two images of "a" (one predicted "b"), one of "c" predicted "b"; "b" has no image, "c" is never predicted.
        var scores = new Dictionary<string, float[]>
        {
            ["a1"] = [0.8f, 0.1f, 0.1f],
            ["a2"] = [0.2f, 0.7f, 0.1f],
            ["c1"] = [0.1f, 0.6f, 0.3f],
        };
        var scorer = new FileScorer(["a", "b", "c"], path => scores[path]);
        using var error = new StringWriter();
        var final = Evaluation.Run(new MLContext(seed: 1), scorer, new LabelledImages(["a1", "a2", "c1"], ["a", "a", "c"], [], []), ProgressDisplay.For(error), error, "evaluate", "test");

        Assert.AreEqual(0.5, final.PerClass[0].Recall);
        Assert.AreEqual(1.0, final.PerClass[0].Precision);
        Assert.IsNull(final.PerClass[1].Recall, "no image of b");
        Assert.AreEqual(0.0, final.PerClass[1].Precision);
        Assert.AreEqual(0.0, final.PerClass[2].Recall);
        Assert.IsNull(final.PerClass[2].Precision, "c is never predicted");

        string json = JsonSerializer.Serialize(final.PerClass[1], new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase });
        StringAssert.Contains(json, "\"recall\":null", json);

        using var printed = new StringWriter();
        Evaluation.Print(final, printed);
        var rows = printed.ToString().Split('\n').Where(l => l.StartsWith("b ", StringComparison.Ordinal) || l.StartsWith("c ", StringComparison.Ordinal)).Take(2).ToList();
        CollectionAssert.AreEqual(new[] { "b|0|0|-|0.0 %", "c|1|0|0.0 %|-" }, rows.Select(r => string.Join('|', r.Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))).ToList(), printed.ToString());
    }
}
