using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// One PredictionEngine called from several threads at once (ML.NET's engines are not thread-safe, but it is an easy
/// mistake in a web app) ended the process: "malloc(): unaligned tcache chunk detected", or returned an empty Score,
/// in 3 of 3 runs of 4 threads x 2,000 predictions. Overlapping calls are now an InvalidOperationException naming the
/// pool, and the engine goes on scoring right once the threads stop.
/// </summary>
[TestClass]
public sealed class SharedEngineTests
{
    [TestMethod]
    public void OverlappingPredictionsOnOneEngineThrowInsteadOfCrashing()
    {
        var ml = new MLContext(seed: 1);
        var data = TestData.Tiny(ml, 24, ["a", "b", "c"]);
        using var trained = ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 }).Fit(data);
        using var stream = new MemoryStream();
        ml.Model.Save(trained, data.Schema, stream);
        stream.Position = 0;
        var loaded = ml.CnnServing().LoadModel(stream, out _);
        try
        {
            foreach (var (name, model) in new[] { ("trained", (ITransformer)trained), ("loaded", loaded) })
            {
                var expected = ml.Model.CreatePredictionEngine<Pixels, Scores>(model).Predict(Pixels.Ramp()).Score;
                var shared = ml.Model.CreatePredictionEngine<Pixels, Scores>(model);
                int refused = Hammer(shared, out var unexpected);
                Assert.IsNull(unexpected, $"{name}: {unexpected}");
                Assert.IsGreaterThan(0, refused, $"{name}: no two predictions overlapped");

                // The engine is not left broken: used from one thread again, it scores as a fresh one.
                CollectionAssert.AreEqual(expected, shared.Predict(Pixels.Ramp()).Score, name);
            }
        }
        finally
        {
            ((IDisposable)loaded).Dispose();
        }
    }

    /// <summary>Four threads predict on <paramref name="engine"/> until some call has been refused (at most 30 s); the number refused.</summary>
    private static int Hammer(PredictionEngine<Pixels, Scores> engine, out Exception? unexpected)
    {
        int refused = 0;
        Exception? other = null;
        var clock = Stopwatch.StartNew();
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            while (Volatile.Read(ref refused) < 20 && clock.Elapsed < TimeSpan.FromSeconds(30) && Volatile.Read(ref other) is null)
            {
                var input = new Pixels();
                for (int k = 0; k < input.Features.Length; k++)
                {
                    input.Features[k] = random.NextSingle();
                }

                try
                {
                    engine.Predict(input);
                }
                catch (InvalidOperationException e) when (e.Message.Contains("not thread-safe", StringComparison.Ordinal) && e.Message.Contains("CreatePool", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref refused);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref other, e, null);
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        unexpected = other;
        return refused;
    }

    private sealed class Pixels
    {
        [VectorType(64)]
        public float[] Features { get; set; } = new float[64];

        public static Pixels Ramp() => new() { Features = Enumerable.Range(0, 64).Select(i => i / 64f).ToArray() };
    }

    private sealed class Scores
    {
        public float[] Score { get; set; } = [];

        public uint PredictedLabel { get; set; }
    }
}
