using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Found by an outside API sweep: disposing a model while a <see cref="ScoringEnginePool{TData, TPrediction}"/> scored
/// with it freed ONNX Runtime's session under running predictions and killed the process (SIGSEGV, SIGABRT) in 6 of 14
/// tries; after <c>Dispose</c>, <c>SaveWeights</c> wrote a file without tensors and <c>Transform</c> threw a
/// <see cref="NullReferenceException"/> inside ML.NET's wrapper.
/// </summary>
[TestClass]
public sealed class DisposeWhileScoringTests
{
    private static readonly string[] Classes = ["a", "b", "c"];

    [TestMethod]
    public void ALoadedModelDisposedUnderAPoolWaitsForItsPredictionsThenRefusesMore()
    {
        var ml = new MLContext(seed: 1);
        string path = Path.Combine(Path.GetTempPath(), $"mlnetcnn-dispose-{Environment.ProcessId}.zip");
        using (var trained = Train(ml))
        {
            ml.Model.Save(trained, Data(ml).Schema, path);
        }

        try
        {
            for (int trial = 0; trial < 3; trial++)
            {
                var model = ml.CnnServing().LoadModel(path, out _);
                DisposeUnderLoad(ml, model);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void ATrainedModelDisposedUnderAPoolWaitsThenEveryUseIsObjectDisposed()
    {
        var ml = new MLContext(seed: 1);
        var model = Train(ml);
        DisposeUnderLoad(ml, model);

        string weights = Path.Combine(Path.GetTempPath(), $"mlnetcnn-disposed-{Environment.ProcessId}.safetensors");
        Assert.ThrowsExactly<ObjectDisposedException>(() => model.SaveWeights(weights));
        Assert.IsFalse(File.Exists(weights), "no weights file without weights");
        Assert.ThrowsExactly<ObjectDisposedException>(() => model.Transform(Data(ml)));
        Assert.ThrowsExactly<ObjectDisposedException>(() => ml.Model.Save(model, Data(ml).Schema, Path.Combine(Path.GetTempPath(), "never.zip")));
        model.Dispose(); // a second Dispose is harmless
    }

    /// <summary>Four threads predict through a pool; the model is disposed in the middle. Every prediction either succeeds or is refused as disposed.</summary>
    private static void DisposeUnderLoad(MLContext ml, ITransformer model)
    {
        var pool = ml.CnnServing().CreatePool<Input, Output>(model);
        var input = new Input { Features = Enumerable.Range(0, 64).Select(i => (float)(i * 3)).ToArray() };
        var expected = pool.Predict(input).Score;
        int scored = 0;
        var others = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        var load = Task.Run(() => Parallel.For(0, 4, _ =>
        {
            for (int k = 0; k < 300; k++)
            {
                try
                {
                    CollectionAssert.AreEqual(expected, pool.Predict(input).Score);
                    Interlocked.Increment(ref scored);
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
                catch (Exception e)
                {
                    others.Add(e);
                    return;
                }
            }
        }));
        SpinWait.SpinUntil(() => Volatile.Read(ref scored) >= 20, TimeSpan.FromSeconds(30));
        ((IDisposable)model).Dispose();
        Assert.IsTrue(load.Wait(TimeSpan.FromSeconds(60)), "the predictions did not end");
        Assert.IsEmpty(others, string.Join("\n", others));
        Assert.IsGreaterThanOrEqualTo(20, scored);
        Assert.ThrowsExactly<ObjectDisposedException>(() => pool.Predict(input));
    }

    private static ImageClassificationTransformer Train(MLContext ml) =>
        ml.Cnn().ImageClassification(new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 }).Fit(Data(ml));

    private static IDataView Data(MLContext ml) => TestData.Tiny(ml, 24, Classes);

    private sealed class Input
    {
        [VectorType(64)]
        public float[] Features { get; set; } = [];
    }

    private sealed class Output
    {
        public float[] Score { get; set; } = [];
    }
}
