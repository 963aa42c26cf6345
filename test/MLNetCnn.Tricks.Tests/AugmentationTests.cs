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
        Assert.IsFalse(new AugmentationOptions { MaxTranslation = 1 }.IsIdentity);
        Assert.IsFalse(new AugmentationOptions { ErasingProbability = 0.5 }.IsIdentity);
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
    public void TranslationMovesEachImageByWholePixelsExactlyAndFlipsWithIt()
    {
        // One bright pixel at row 3, column 2 of a 9 x 9 black image; mirrored it sits at column 6.
        using var scope = NewDisposeScope();
        var images = zeros(400, 1, 9, 9);
        images[.., .., 3, 2] = tensor(200f);
        foreach (bool flip in new[] { false, true })
        {
            var output = Augment(new AugmentationOptions { MaxTranslation = 2, HorizontalFlipProbability = flip ? 1 : 0 }, images, seed: 21);
            var values = output.flatten().data<float>().ToArray();
            Assert.AreEqual(400, values.Count(v => v == 200), "the pixel moves whole, without a resample");
            Assert.AreEqual(400 * 80, values.Count(v => v == 0), "everything else stays black");
            var offsets = new HashSet<(int, int)>();
            for (int i = 0; i < 400; i++)
            {
                int at = Array.IndexOf(values, 200f, i * 81, 81) - (i * 81);
                offsets.Add(((at / 9) - 3, (at % 9) - (flip ? 6 : 2)));
            }

            Assert.IsTrue(offsets.All(o => Math.Abs(o.Item1) <= 2 && Math.Abs(o.Item2) <= 2), $"offsets {string.Join(" ", offsets)}");
            Assert.AreEqual(25, offsets.Count, "every shift in [-2, 2] x [-2, 2] is drawn");
        }
    }

    [TestMethod]
    public void TranslationFillsTheUncoveredBorderWithZeros()
    {
        using var scope = NewDisposeScope();
        var output = Augment(new AugmentationOptions { MaxTranslation = 3 }, full(new long[] { 64, 1, 8, 8 }, 100f), seed: 22);
        var rows = output.ne(0).any(3).sum(new long[] { 1, 2 }).data<long>().ToArray();
        var columns = output.ne(0).any(2).sum(new long[] { 1, 2 }).data<long>().ToArray();
        var kept = output.eq(100).sum(new long[] { 1, 2, 3 }).data<long>().ToArray();
        Assert.IsTrue(output.eq(0).logical_or(output.eq(100)).all().item<bool>(), "values are the image's or zero");
        for (int i = 0; i < 64; i++)
        {
            Assert.IsTrue(rows[i] >= 5 && columns[i] >= 5, $"image {i}: shifted by more than 3");
            Assert.AreEqual(rows[i] * columns[i], kept[i], $"image {i}: the kept part is one rectangle");
        }

        Assert.IsTrue(kept.Any(k => k < 64), "some images moved");
    }

    [TestMethod]
    public void ErasingReplacesOneBoxPerImageWithNoiseWithinTheAreaRange()
    {
        using var scope = NewDisposeScope();
        var images = full(new long[] { 300, 3, 28, 28 }, 100f);
        var options = new AugmentationOptions { ErasingProbability = 1, ErasingMinArea = 0.1, ErasingMaxArea = 0.2 };
        var output = Augment(options, images, seed: 23);
        Assert.IsTrue(output.min().item<float>() >= 0 && output.max().item<float>() <= 255);
        var changed = output.ne(100);
        Assert.IsTrue(changed.any(1).eq(changed.all(1)).all().item<bool>(), "a box covers every channel");
        var mask = changed.any(1); // [N, H, W]
        var area = mask.sum(new long[] { 1, 2 }).data<long>().ToArray();
        var rows = mask.any(2).sum(1).data<long>().ToArray();
        var columns = mask.any(1).sum(1).data<long>().ToArray();
        var aspects = new List<double>();
        for (int i = 0; i < 300; i++)
        {
            Assert.AreEqual(rows[i] * columns[i], area[i], $"image {i}: the erased pixels form one box");
            double fraction = area[i] / 784.0;
            Assert.IsTrue(fraction is > 0.08 and < 0.23, $"image {i}: erased fraction {fraction}");
            aspects.Add((double)rows[i] / columns[i]);
        }

        Assert.IsTrue(aspects.Min() < 0.6 && aspects.Max() > 1.7, $"aspects {aspects.Min()}..{aspects.Max()} span the range");
        Assert.IsTrue(Same(Augment(options, images, seed: 23), output), "seeded");
    }

    [TestMethod]
    public void ErasingHitsTheGivenShareOfImagesAndLeavesTheOtherDrawsAlone()
    {
        using var scope = NewDisposeScope();
        var images = Images(1000, 1, 12, seed: 24);
        var flipOnly = new AugmentationOptions { HorizontalFlipProbability = 0.5, MaxTranslation = 1 };
        var plain = Augment(flipOnly, images, seed: 25);
        var erased = Augment(flipOnly with { ErasingProbability = 0.5 }, images, seed: 25);
        var touched = erased.ne(plain).any(1).any(1).any(1);
        double share = touched.sum().item<long>() / 1000.0;
        Assert.IsTrue(share is >= 0.44 and <= 0.56, $"erased share {share}");
        var untouched = touched.logical_not().nonzero().flatten();
        Assert.IsTrue(Same(erased.index_select(0, untouched), plain.index_select(0, untouched)), "images not erased are as without erasing");
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
            (new() { MaxTranslation = -1 }, nameof(AugmentationOptions.MaxTranslation)),
            (new() { ErasingProbability = 1.1 }, nameof(AugmentationOptions.ErasingProbability)),
            (new() { ErasingMinArea = 0 }, nameof(AugmentationOptions.ErasingMinArea)),
            (new() { ErasingMinArea = 0.3, ErasingMaxArea = 0.2 }, nameof(AugmentationOptions.ErasingMaxArea)),
            (new() { ErasingMinAspect = 1.5 }, nameof(AugmentationOptions.ErasingMinAspect)),
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
