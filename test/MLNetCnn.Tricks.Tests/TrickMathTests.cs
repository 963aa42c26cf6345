using TorchSharp;
using MLNetCnn.Tricks.Distillation;
using MLNetCnn.Tricks.Losses;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Regularization;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Tests;

/// <summary>The tricks as formulas: values at given inputs, checked against hand computation.</summary>
[TestClass]
public sealed class TrickMathTests
{
    [TestMethod]
    public void SmoothedTargetsHoldTheDocumentedValues()
    {
        using var targets = SoftTargets.FromLabels(tensor(new long[] { 2, 0 }), 4, 0.1);
        float[] v = targets.data<float>().ToArray();
        CollectionAssert.AreEqual(new[] { 0.025f, 0.025f, 0.925f, 0.025f, 0.925f, 0.025f, 0.025f, 0.025f }, v.Select(x => MathF.Round(x, 6)).ToArray());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => SoftTargets.FromLabels(tensor(new long[] { 0 }), 4, 1.0));
    }

    [TestMethod]
    public void SoftCrossEntropyMatchesLibtorchsHardAndSmoothedLoss()
    {
        manual_seed(5);
        using var logits = randn(6, 5);
        using var labels = tensor(new long[] { 0, 4, 2, 2, 1, 3 });
        using var hard = SoftTargets.FromLabels(labels, 5);
        using var smooth = SoftTargets.FromLabels(labels, 5, 0.2);
        Assert.AreEqual(nn.functional.cross_entropy(logits, labels).item<float>(), SoftTargets.CrossEntropy(logits, hard).item<float>(), 1e-5);
        Assert.AreEqual(nn.functional.cross_entropy(logits, labels, label_smoothing: 0.2).item<float>(), SoftTargets.CrossEntropy(logits, smooth).item<float>(), 1e-5);
    }

    [TestMethod]
    public void MixupBlendsImagesAndTargetsWithTheSameLambda()
    {
        using var images = tensor(new float[] { 0, 0, 10, 10 }).reshape(2, 1, 1, 2);
        using var targets = tensor(new float[] { 1, 0, 0, 1 }).reshape(2, 2);
        using var swap = tensor(new long[] { 1, 0 });
        var (x, t) = Mixup.Mix(images, targets, 0.7, swap);
        CollectionAssert.AreEqual(new[] { 3f, 3f, 7f, 7f }, x.data<float>().ToArray().Select(v => MathF.Round(v, 5)).ToArray());
        CollectionAssert.AreEqual(new[] { 0.7f, 0.3f, 0.3f, 0.7f }, t.data<float>().ToArray().Select(v => MathF.Round(v, 5)).ToArray());
        x.Dispose();
        t.Dispose();
    }

    [TestMethod]
    public void MixupLambdaFollowsBetaAlphaAlpha()
    {
        // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)); at a = 0.2 most mass sits near 0 and 1.
        foreach (double alpha in new[] { 0.2, 1.0, 4.0 })
        {
            var random = new Random(11);
            var draws = Enumerable.Range(0, 40_000).Select(_ => Mixup.SampleLambda(alpha, random)).ToArray();
            double mean = draws.Average();
            double variance = draws.Select(d => (d - mean) * (d - mean)).Average();
            double expected = 1 / (4 * ((2 * alpha) + 1));
            Assert.IsTrue(draws.All(d => d is >= 0 and <= 1));
            Assert.AreEqual(0.5, mean, 0.01, $"alpha {alpha}");
            Assert.AreEqual(expected, variance, expected * 0.05, $"alpha {alpha}");
        }

        var r = new Random(1);
        double extreme = Enumerable.Range(0, 10_000).Select(_ => Mixup.SampleLambda(0.2, r)).Count(d => d is < 0.1 or > 0.9) / 10_000.0;
        Assert.IsTrue(extreme > 0.5, $"Beta(0.2, 0.2) should put most mass near 0 and 1; found {extreme:P0}");
    }

    [TestMethod]
    public void DistillationLossMatchesAHandComputedValue()
    {
        // Student logits (1, 0), teacher logits (0, 2), T = 2, hard label 0, hard weight 0.25.
        // Soft term: teacher softmax at T is (1/(1+e), e/(1+e)); student at T is log softmax of (0.5, 0).
        double e = Math.E;
        double pt0 = 1 / (1 + e);
        double pt1 = e / (1 + e);
        double ls0 = 0.5 - Math.Log(Math.Exp(0.5) + 1);
        double ls1 = -Math.Log(Math.Exp(0.5) + 1);
        double teacherEntropy = -((pt0 * Math.Log(pt0)) + (pt1 * Math.Log(pt1)));
        double soft = (-((pt0 * ls0) + (pt1 * ls1)) - teacherEntropy) * 4; // T^2 KL: the cross entropy less the teacher's entropy
        double hard = -(1 - Math.Log(e + 1));
        double expected = (0.25 * hard) + (0.75 * soft);

        var options = new DistillationOptions { Temperature = 2, HardLabelWeight = 0.25 };
        using var student = tensor(new float[] { 1, 0 }).reshape(1, 2);
        using var teacher = options.TeacherProbabilities(tensor(new float[] { 0, 2 }).reshape(1, 2));
        using var targets = SoftTargets.FromLabels(tensor(new long[] { 0 }), 2);
        Assert.AreEqual(expected, options.Loss(student, teacher, targets).item<float>(), 1e-5);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new DistillationOptions { Temperature = 0 }.Validate());
    }

    /// <summary>
    /// The soft term reads 0 for a student that matches its teacher, as a loss does. With the paper's cross entropy it read
    /// T^2 times the teacher's entropy: about 920 here (T = 20, 10 classes), so a run's training loss said nothing.
    /// </summary>
    [TestMethod]
    public void DistillationLossIsZeroForAStudentThatMatchesItsTeacher()
    {
        var options = new DistillationOptions { Temperature = 20, HardLabelWeight = 0 };
        manual_seed(1);
        using var three = 3.0.ToScalar();
        using var raw = randn(4, 10);
        using var logits = raw.mul(three);
        using var teacher = options.TeacherProbabilities(logits);
        using var targets = SoftTargets.FromLabels(tensor(new long[] { 0, 1, 2, 3 }), 10);
        Assert.AreEqual(0, options.Loss(logits, teacher, targets).item<float>(), 1e-3);

        using var other = randn(4, 10);
        Assert.IsTrue(options.Loss(other, teacher, targets).item<float>() > 0.01, "a student unlike its teacher has a positive loss");
    }

    [TestMethod]
    public void LossScalerSkipsOverflowingStepsHalvesAndGrows()
    {
        var scaler = new DynamicLossScaler(initialScale: 1024, growthInterval: 3, minimumScale: 256);
        Assert.IsFalse(scaler.Update(gradientsFinite: false));
        Assert.AreEqual(512, scaler.Scale);
        Assert.AreEqual(1, scaler.SkippedSteps);
        Assert.IsTrue(scaler.Update(true));
        Assert.IsTrue(scaler.Update(true));
        Assert.AreEqual(512, scaler.Scale);
        Assert.IsTrue(scaler.Update(true));
        Assert.AreEqual(1024, scaler.Scale);
        Assert.IsFalse(scaler.Update(false));
        Assert.IsFalse(scaler.Update(false));
        Assert.AreEqual(256, scaler.Scale);
        Assert.ThrowsExactly<InvalidOperationException>(() => scaler.Update(false));
    }
}
