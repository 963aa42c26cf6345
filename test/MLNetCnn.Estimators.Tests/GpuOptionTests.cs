using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// ONNX Runtime scoring honours <c>MLContext.GpuDeviceId</c> and <c>FallbackToCpu</c> (and the trainer's
/// own options, which take precedence). This machine has no GPU, so asking for one must either fall
/// back (when allowed) or fail (when not): both prove the setting reached ONNX Runtime.
/// </summary>
[TestClass]
public sealed class GpuOptionTests
{
    [TestMethod]
    public void AGpuRequestFallsBackToTheCpuWhenAllowedAndFailsWhenNot()
    {
        if (TorchSharp.torch.cuda.is_available())
        {
            Assert.Inconclusive("A CUDA device is present; this test checks the CPU-only behaviour.");
        }

        var allowed = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = true };
        var data = TestData.FashionSubset(allowed, 64, seed: 3);
        string zip = Path.Combine(Path.GetTempPath(), $"mlnetcnn-gpu-{Environment.ProcessId}.zip");
        using (var model = allowed.Cnn().ImageClassification(ImageClassificationTrainerTests.SmallOptions()).Fit(data))
        {
            var scores = model.Transform(data).GetColumn<float[]>("Score").ToList();
            Assert.IsTrue(scores.All(s => Math.Abs(s.Sum() - 1) < 1e-3), "scored on the CPU after falling back");
            allowed.Model.Save(model, data.Schema, zip);
        }

        try
        {
            // Found by a sweep: loading with a GPU that cannot be used read as "the zip is damaged", nine exceptions deep.
            var load = Assert.ThrowsExactly<InvalidOperationException>(() => new MLContext { GpuDeviceId = 0, FallbackToCpu = false }.CnnServing().LoadModel(zip, out _));
            StringAssert.Contains(load.Message, "FallbackToCpu is false");
        }
        finally
        {
            File.Delete(zip);
        }

        // Refused before a row is read (before, only after the whole training run, when the scoring chain was built).
        var strict = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = false };
        var fromContext = Assert.ThrowsExactly<InvalidOperationException>(() => strict.Cnn().ImageClassification(Small8x8()).Fit(TestData.Unreadable(strict)));
        StringAssert.Contains(fromContext.Message, "GPU 0");
        StringAssert.Contains(fromContext.Message, "FallbackToCpu is false");

        var options = Small8x8();
        options.GpuDeviceId = 0;
        options.FallbackToCpu = false;
        var plain = new MLContext(seed: 1);
        var fromOptions = Assert.ThrowsExactly<InvalidOperationException>(() => plain.Cnn().ImageClassification(options).Fit(TestData.Unreadable(plain)));
        StringAssert.Contains(fromOptions.Message, "GPU 0");

        var featurizer = new ImageFeaturizerEstimator.Options { ImageShape = new ImageShape(1, 8, 8), WidthMultiplier = 0.25, GpuDeviceId = 0, FallbackToCpu = false };
        var fromFeaturizer = Assert.ThrowsExactly<InvalidOperationException>(() => plain.Cnn().ImageFeaturizer(featurizer).Fit(TestData.Unreadable(plain)));
        StringAssert.Contains(fromFeaturizer.Message, "FallbackToCpu is false");
    }

    private static ImageClassificationTrainer.Options Small8x8() => new() { Arch = "resnet18", WidthMultiplier = 0.25, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
}
