using MLNetCnn.Tricks.Augmentation;

namespace MLNetCnn.Tricks.Tests;

/// <summary>The <c>--augment</c> text form shared by QuickStart and the CLI.</summary>
[TestClass]
public sealed class AugmentationListTests
{
    [TestMethod]
    public void NamesGiveTheDocumentedDefaults()
    {
        Assert.AreSame(AugmentationOptions.None, AugmentationList.Parse(" None "));
        Assert.AreSame(AugmentationOptions.BagOfTricks, AugmentationList.Parse("bag-of-tricks"));
        Assert.AreEqual(
            new AugmentationOptions { HorizontalFlipProbability = 0.5, RandomResizedCrop = true, MinArea = 0.7, MaxTranslation = 2, ErasingProbability = 0.5 },
            AugmentationList.Parse("flip, crop,SHIFT,erase"));
        Assert.AreEqual(AugmentationList.Parse("flip,crop"), AugmentationList.Parse("flip-crop"));
    }

    [TestMethod]
    public void ValuesOverrideTheDefaults()
    {
        var options = AugmentationList.Parse("flip=1,crop=0.08,shift=4,erase=0.25");
        Assert.AreEqual(1.0, options.HorizontalFlipProbability);
        Assert.IsTrue(options.RandomResizedCrop);
        Assert.AreEqual(0.08, options.MinArea);
        Assert.AreEqual(4, options.MaxTranslation);
        Assert.AreEqual(0.25, options.ErasingProbability);
        Assert.AreEqual(new AugmentationOptions { MaxTranslation = 1 }, AugmentationList.Parse("shift=1"));
    }

    [TestMethod]
    [DataRow("wobble", "unknown augmentation 'wobble'")]
    [DataRow("flip,,shift", "unknown augmentation ''")]
    [DataRow("flip,flip", "'flip' appears twice")]
    [DataRow("flip-crop,crop=0.5", "'crop' appears twice")]
    [DataRow("flip=0", "flip takes a probability in (0, 1]; found '0'")]
    [DataRow("erase=1.5", "erase takes a probability in (0, 1]; found '1.5'")]
    [DataRow("crop=abc", "crop takes a minimum area in (0, 1]; found 'abc'")]
    [DataRow("shift=2.5", "shift takes a whole number of pixels from 1 to 1024; found '2.5'")]
    [DataRow("shift=NaN", "found 'nan'")]
    [DataRow("none,flip", "unknown augmentation 'none'")]
    public void BadTextIsAFormatExceptionQuotingIt(string text, string message)
    {
        var e = Assert.ThrowsExactly<FormatException>(() => AugmentationList.Parse(text));
        StringAssert.Contains(e.Message, message);
        StringAssert.Contains(e.Message, $"'{text}'");
        StringAssert.Contains(e.Message, AugmentationList.Syntax);
    }

    [TestMethod]
    [DataRow("none")]
    [DataRow("bag-of-tricks")]
    [DataRow("flip=0.5")]
    [DataRow("flip=0.5,crop=0.7,shift=2,erase=0.5")]
    [DataRow("crop=0.08,erase=0.3")]
    public void FormatRoundTrips(string text)
    {
        Assert.AreEqual(text, AugmentationList.Format(AugmentationList.Parse(text)));
        Assert.AreEqual(AugmentationList.Parse(text), AugmentationList.Parse(AugmentationList.Format(AugmentationList.Parse(text))!));
    }

    [TestMethod]
    public void FormatIsNullForWhatTheListCannotSay()
    {
        Assert.IsNull(AugmentationList.Format(new AugmentationOptions { Brightness = 0.2 }));
        Assert.IsNull(AugmentationList.Format(new AugmentationOptions { RandomResizedCrop = true, MaxArea = 0.9 }));
        Assert.IsNull(AugmentationList.Format(new AugmentationOptions { ErasingProbability = 0.5, ErasingMaxArea = 0.2 }));
        Assert.AreEqual("flip=0.5", AugmentationList.Format(new AugmentationOptions { HorizontalFlipProbability = 0.5, MaxArea = 0.9, ErasingMaxArea = 0.2 }), "settings of operations that are off do not count");
    }
}
