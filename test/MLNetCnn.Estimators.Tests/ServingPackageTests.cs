using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Tests;

/// <summary>Scoring with MLNetCnn.Serving alone: models saved before the split, and errors that name the file.</summary>
[TestClass]
public sealed class ServingPackageTests
{
    private static readonly string Assets = Path.Combine(AppContext.BaseDirectory, "Assets");

    [TestMethod]
    public void AModelSavedBeforeTheServingSplitScoresInAProcessWithoutEstimatorsOrLibtorch()
    {
        // Saved by commit 8dc1e9e, when the arg-max and decoding mappings lived in MLNetCnn.Estimators; a zip stores
        // only their contract names, which MLNetCnn.Serving keeps. Scores printed by that commit for the two images:
        float[] top = [0.9999969f, 1.4866056E-06f, 1.6420265E-06f];
        float[] left = [0.0012795513f, 0.004691713f, 0.9940288f];
        var output = RunProbe(Path.Combine(Assets, "pre-serving-split-model.zip"), Path.Combine(Assets, "pre-serving-split-top.png"), Path.Combine(Assets, "pre-serving-split-left.png"));
        var scores = output.Split('\n').Where(l => l.StartsWith("score=", StringComparison.Ordinal))
            .Select(l => l["score=".Length..].Trim().Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
        Assert.AreEqual(2, scores.Count, output);
        for (int k = 0; k < 3; k++)
        {
            Assert.AreEqual(top[k], scores[0][k], 1e-5, $"top, class {k}");
            Assert.AreEqual(left[k], scores[1][k], 1e-5, $"left, class {k}");
        }

        StringAssert.Contains(output, "libtorch-loaded=false");
        StringAssert.Contains(output, "estimators-loaded=false");
    }

    [TestMethod]
    public void AScoringErrorNamesTheBadInputAtTheTop()
    {
        // 64 rows, one of them not an image. ML.NET's Evaluate reads through worker threads, whose failure arrives as
        // "Splitter/consolidator worker encountered exception" with the decoder's message nested inside; a model loaded
        // through CnnServing rethrows the decoder's own exception at the top.
        string zip = Path.Combine(Assets, "pre-serving-split-model.zip");
        byte[] image = File.ReadAllBytes(Path.Combine(Assets, "pre-serving-split-top.png"));
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 64).Select(i => new LabelledBytes { ImageBytes = i == 40 ? "not an image"u8.ToArray() : image, Label = 1 }));
        var model = ml.CnnServing().LoadModel(zip, out _); // also registers the serving assembly for the plain load below
        var plain = ml.Model.Load(zip, out _);
        try
        {
            var nested = Assert.Throws<Exception>(() => ml.MulticlassClassification.Evaluate(plain.Transform(data)));
            Assert.IsNotInstanceOfType<InvalidDataException>(nested, "ML.NET's own load wraps the decoder's error");
            var top = Assert.ThrowsExactly<InvalidDataException>(() => ml.MulticlassClassification.Evaluate(model.Transform(data)));
            StringAssert.Contains(top.Message, "(12 bytes) is not a decodable image");
            StringAssert.Contains(top.StackTrace, nameof(ImageDecoding), "the decoder's stack trace is kept");
        }
        finally
        {
            ((IDisposable)model).Dispose();
            ((IDisposable)plain).Dispose();
        }
    }

    private static string RunProbe(params string[] arguments)
    {
        string probe = Path.Combine(AppContext.BaseDirectory, "ScoringProbe.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(probe);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        Assert.IsTrue(process.WaitForExit(120_000), "probe timed out");
        Assert.AreEqual(0, process.ExitCode, $"probe failed: {output}\n{error}");
        return output;
    }

    private sealed class LabelledBytes
    {
        [Microsoft.ML.Data.VectorType]
        public byte[] ImageBytes { get; set; } = [];

        [Microsoft.ML.Data.KeyType(3)]
        public uint Label { get; set; }
    }
}
