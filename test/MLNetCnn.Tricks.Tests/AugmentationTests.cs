using MLNetCnn.Tricks.Augmentation;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Tests;

[TestClass]
public sealed class AugmentationTests
{
    /// <summary>Reproducible raw pixels uniform in [low, high), from a generator of their own.</summary>
    private static Tensor Images(long n, long c, long size, int seed, double low = 0, double high = 255)
    {
        using var generator = new Generator((ulong)seed);
        return (rand(new[] { n, c, size, size }, generator: generator) * (high - low)) + low;
    }

    private static Tensor Augment(AugmentationOptions options, Tensor images, long seed = 1) => new BatchAugmenter(options).Apply(images, seed);

    /// <summary>Same shape and the same values, compared as floats (bitwise but for the sign of zero).</summary>
    private static bool Same(Tensor a, Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.contiguous().data<float>().ToArray().SequenceEqual(b.contiguous().data<float>().ToArray());

    private static float MaxDifference(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [TestMethod]
    public void NoneIsTheBitwiseIdentity()
    {
        using var scope = NewDisposeScope();
        var images = Images(4, 3, 8, seed: 1);
        var output = Augment(AugmentationOptions.None, images);
        Assert.IsTrue(AugmentationOptions.None.IsIdentity);
        Assert.IsFalse(AugmentationOptions.BagOfTricks.IsIdentity);
        Assert.IsTrue(Same(output, images));
    }

    [TestMethod]
    public void TheSameSeedGivesTheSameOutputAndAnotherSeedDoesNot()
    {
        using var scope = NewDisposeScope();
        var images = Images(8, 3, 16, seed: 2);
        var augmenter = new BatchAugmenter(AugmentationOptions.BagOfTricks);
        var first = augmenter.Apply(images, 42);
        var again = augmenter.Apply(images, 42);
        var other = augmenter.Apply(images, 43);
        Assert.IsTrue(Same(first, again));
        Assert.IsFalse(Same(first, other));
        CollectionAssert.AreEqual(images.shape, first.shape);
        Assert.AreEqual(ScalarType.Float32, first.dtype);
        Assert.AreEqual(images.device_type, first.device_type);
    }

    [TestMethod]
    public void TheInputAndTheGlobalRandomStreamAreLeftAlone()
    {
        using var scope = NewDisposeScope();
        var images = Images(4, 3, 8, seed: 3);
        var copy = images.clone();
        manual_seed(5);
        var expected = rand(4);
        manual_seed(5);
        Augment(AugmentationOptions.BagOfTricks, images);
        Assert.IsTrue(Same(rand(4), expected), "Apply drew from the global torch stream");
        Augment(new AugmentationOptions { Brightness = 0.4, Contrast = 0.4 }, images);
        Assert.IsTrue(Same(images, copy), "Apply wrote into its input");
    }

    [TestMethod]
    public void OnlyTheResultReachesTheCallersDisposeScope()
    {
        using var scope = NewDisposeScope();
        var images = Images(4, 3, 8, seed: 15);
        foreach (var options in new[] { AugmentationOptions.None, AugmentationOptions.BagOfTricks, new AugmentationOptions { HorizontalFlipProbability = 1 } })
        {
            int before = scope.DisposablesCount;
            var output = Augment(options, images);
            Assert.AreEqual(before + 1, scope.DisposablesCount, $"{options}");
            Assert.IsTrue(scope.Contains(output));
            Assert.IsTrue(scope.Contains(images), "the input stays where it was");
        }
    }

    [TestMethod]
    public void FlipWithProbabilityOneIsAnExactMirror()
    {
        using var scope = NewDisposeScope();
        var images = Images(4, 3, 8, seed: 4);
        var output = Augment(new AugmentationOptions { HorizontalFlipProbability = 1 }, images);
        Assert.IsTrue(Same(output, images.flip(3)));
    }

    [TestMethod]
    public void AFullAreaSquareCropReproducesTheInputAndFlipsWithIt()
    {
        using var scope = NewDisposeScope();
        var images = Images(4, 3, 16, seed: 5);
        var full = new AugmentationOptions { RandomResizedCrop = true, MinArea = 1, MaxArea = 1, MinAspect = 1, MaxAspect = 1 };
        Assert.IsTrue(MaxDifference(Augment(full, images), images) < 1e-3);
        Assert.IsTrue(MaxDifference(Augment(full with { HorizontalFlipProbability = 1 }, images), images.flip(3)) < 1e-3);
    }

    [TestMethod]
    public void WhenNoBoxFitsTheCropFallsBackToTheWholeImage()
    {
        // A full-area box fits a square image only at aspect 1 exactly, so all ten draws fail.
        using var scope = NewDisposeScope();
        var images = Images(4, 1, 16, seed: 6);
        var output = Augment(new AugmentationOptions { RandomResizedCrop = true, MinArea = 1, MaxArea = 1, MinAspect = 0.5, MaxAspect = 2 }, images);
        Assert.IsTrue(MaxDifference(output, images) < 1e-3);
    }

    [TestMethod]
    public void AQuarterAreaSquareCropSpansHalfOfAHorizontalRamp()
    {
        // Pixel value 16 * column: an 8-pixel-wide box resampled to 16 columns spans 15 * 8 / 16 input columns.
        using var scope = NewDisposeScope();
        var ramp = (arange(16, ScalarType.Float32) * 16).reshape(1, 1, 1, 16).expand(6, 1, 16, 16).contiguous();
        var output = Augment(new AugmentationOptions { RandomResizedCrop = true, MinArea = 0.25, MaxArea = 0.25, MinAspect = 1, MaxAspect = 1 }, ramp, seed: 7);
        var spans = (output.amax(new long[] { 2, 3 }) - output.amin(new long[] { 2, 3 })).flatten().data<float>().ToArray();
        foreach (float span in spans)
        {
            Assert.AreEqual(120, span, 1e-3);
        }

        Assert.IsTrue(MaxDifference(output, output[.., .., ..1, ..]) < 1e-3, "every row of a horizontal ramp stays the same");
        Assert.IsTrue(output[.., 0, 0, 0].unique().output.numel() > 1, "the crop offsets differ between images");
    }

    [TestMethod]
    public void CroppingAConstantImageKeepsItConstant()
    {
        using var scope = NewDisposeScope();
        var images = full(new long[] { 16, 3, 8, 8 }, 100f);
        var output = Augment(new AugmentationOptions { RandomResizedCrop = true, HorizontalFlipProbability = 0.5 }, images, seed: 8);
        Assert.IsTrue(MaxDifference(output, images) < 1e-3);
    }

    [TestMethod]
    public void BrightnessScalesEachImageByOneFactorInRange()
    {
        using var scope = NewDisposeScope();
        var images = Images(32, 3, 8, seed: 9, low: 20, high: 150);
        var ratios = Augment(new AugmentationOptions { Brightness = 0.4 }, images) / images;
        var low = ratios.amin(new long[] { 1, 2, 3 }).data<float>().ToArray();
        var high = ratios.amax(new long[] { 1, 2, 3 }).data<float>().ToArray();
        for (int i = 0; i < low.Length; i++)
        {
            Assert.IsTrue(low[i] >= 0.6f - 1e-5f && high[i] <= 1.4f + 1e-5f, $"image {i}: ratios {low[i]}..{high[i]}");
            Assert.AreEqual(low[i], high[i], 1e-5, $"image {i} is scaled by one factor");
        }

        Assert.IsTrue(low.Max() - low.Min() > 0.1, "the factors differ between images");
    }

    [TestMethod]
    public void SaturationAndLightingLeaveGreyImagesAlone()
    {
        using var scope = NewDisposeScope();
        var images = Images(8, 1, 8, seed: 10);
        var output = Augment(new AugmentationOptions { Saturation = 0.4, PcaLighting = 0.1 }, images);
        Assert.IsTrue(Same(output, images));
        var jittered = Augment(AugmentationOptions.BagOfTricks, images);
        CollectionAssert.AreEqual(images.shape, jittered.shape);
        Assert.IsFalse(Same(jittered, images));
    }

    [TestMethod]
    public void SaturationAndLightingChangeColourImages()
    {
        using var scope = NewDisposeScope();
        var images = Images(8, 3, 8, seed: 11, low: 50, high: 200);
        Assert.IsTrue(MaxDifference(Augment(new AugmentationOptions { Saturation = 0.4 }, images), images) > 1);
        Assert.IsTrue(MaxDifference(Augment(new AugmentationOptions { PcaLighting = 0.1 }, images), images) > 1);
    }

    [TestMethod]
    public void TheOutputStaysWithinZeroTo255()
    {
        using var scope = NewDisposeScope();
        var images = Images(64, 3, 8, seed: 12);
        var strong = AugmentationOptions.BagOfTricks with { Brightness = 2, Contrast = 2, Saturation = 2, PcaLighting = 3 };
        foreach (var options in new[] { strong, new AugmentationOptions { Brightness = 3 }, new AugmentationOptions { PcaLighting = 3 } })
        {
            var output = Augment(options, images);
            Assert.IsTrue(output.min().item<float>() >= 0, $"{options}");
            Assert.IsTrue(output.max().item<float>() == 255, $"{options}: strong jitter saturates some pixels and stops at 255");
        }
    }

    [TestMethod]
    public void HalfTheImagesAreFlippedWithProbabilityOneHalf()
    {
        using var scope = NewDisposeScope();
        var images = (arange(16, ScalarType.Float32) * 10).reshape(1, 1, 4, 4).expand(2000, 1, 4, 4).contiguous();
        var output = Augment(new AugmentationOptions { HorizontalFlipProbability = 0.5 }, images, seed: 13);
        var flipped = output.eq(images.flip(3)).all(1).all(1).all(1);
        var unchanged = output.eq(images).all(1).all(1).all(1);
        Assert.IsTrue(flipped.logical_xor(unchanged).all().item<bool>(), "every image is either mirrored or untouched");
        double fraction = flipped.sum().item<long>() / 2000.0;
        Assert.IsTrue(fraction is >= 0.45 and <= 0.55, $"flipped fraction {fraction}");
    }

    [TestMethod]
    public void BadImagesAreRejectedWithTheExpectedShape()
    {
        var augmenter = new BatchAugmenter(AugmentationOptions.BagOfTricks);
        using var scope = NewDisposeScope();
        var e = Assert.ThrowsExactly<ArgumentException>(() => augmenter.Apply(zeros(2, 8, 8), 1));
        StringAssert.Contains(e.Message, "[N, C, H, W]");
        StringAssert.Contains(e.Message, "[2, 8, 8]");
        Assert.ThrowsExactly<ArgumentException>(() => augmenter.Apply(zeros(new long[] { 2, 3, 8, 8 }, ScalarType.Float64), 1));
        Assert.ThrowsExactly<ArgumentException>(() => augmenter.Apply(zeros(2, 4, 8, 8), 1));
    }

    [TestMethod]
    public void ValidateNamesTheBadProperty()
    {
        var bad = new (AugmentationOptions Options, string Property)[]
        {
            (new() { MinArea = 0 }, nameof(AugmentationOptions.MinArea)),
            (new() { MaxArea = 1.5 }, nameof(AugmentationOptions.MaxArea)),
            (new() { MinArea = 0.5, MaxArea = 0.4 }, nameof(AugmentationOptions.MaxArea)),
            (new() { MinAspect = 0 }, nameof(AugmentationOptions.MinAspect)),
            (new() { MinAspect = 2, MaxAspect = 1 }, nameof(AugmentationOptions.MaxAspect)),
            (new() { HorizontalFlipProbability = 1.5 }, nameof(AugmentationOptions.HorizontalFlipProbability)),
            (new() { HorizontalFlipProbability = -0.1 }, nameof(AugmentationOptions.HorizontalFlipProbability)),
            (new() { Brightness = -0.1 }, nameof(AugmentationOptions.Brightness)),
            (new() { Contrast = double.NaN }, nameof(AugmentationOptions.Contrast)),
            (new() { Saturation = -1 }, nameof(AugmentationOptions.Saturation)),
            (new() { PcaLighting = double.PositiveInfinity }, nameof(AugmentationOptions.PcaLighting)),
        };
        foreach (var (options, property) in bad)
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new BatchAugmenter(options), property);
            Assert.AreEqual(property, e.ParamName);
            StringAssert.Contains(e.Message, property);
        }

        Assert.AreSame(AugmentationOptions.BagOfTricks, AugmentationOptions.BagOfTricks.Validate());
    }

    [TestMethod]
    public void OnCudaTheOutputMatchesTheCpu()
    {
        if (!cuda.is_available())
        {
            Assert.Inconclusive("No CUDA device.");
        }

        using var scope = NewDisposeScope();
        var images = Images(8, 3, 16, seed: 14);
        var augmenter = new BatchAugmenter(AugmentationOptions.BagOfTricks);
        var onCuda = augmenter.Apply(images.cuda(), 3);
        Assert.AreEqual(TorchSharp.DeviceType.CUDA, onCuda.device_type);
        Assert.IsTrue(MaxDifference(onCuda.cpu(), augmenter.Apply(images, 3)) < 1e-2);
    }
}
