namespace MLNetCnn.Tricks.Augmentation;

/// <summary>
/// Settings of <see cref="BatchAugmenter"/>: the training-time augmentation of the Bag of Tricks baseline
/// (He et al., "Bag of Tricks for Image Classification with Convolutional Neural Networks", CVPR 2019,
/// section 2.1, steps 2 to 5). Every operation is off by default; <see cref="BagOfTricks"/> holds the
/// paper's values. Pixel values are raw 0..255 units, before the model's mean/std normalization.
/// </summary>
public sealed record AugmentationOptions
{
    /// <summary>
    /// Crop a random box and resize it back to the image size (bilinear). The box's area is a fraction of the
    /// image drawn uniformly from [<see cref="MinArea"/>, <see cref="MaxArea"/>], its aspect ratio (width over
    /// height) log-uniformly from [<see cref="MinAspect"/>, <see cref="MaxAspect"/>]. When 10 draws give no box
    /// that fits, torchvision's fallback applies: the central box of the image's own aspect ratio clamped to the
    /// range, which is the whole image when its aspect ratio lies in the range.
    /// </summary>
    public bool RandomResizedCrop { get; init; }

    /// <summary>Smallest crop area as a fraction of the image, in (0, 1].</summary>
    public double MinArea { get; init; } = 0.08;

    /// <summary>Largest crop area as a fraction of the image, in [<see cref="MinArea"/>, 1].</summary>
    public double MaxArea { get; init; } = 1.0;

    /// <summary>Smallest crop aspect ratio (width over height), positive.</summary>
    public double MinAspect { get; init; } = 3.0 / 4;

    /// <summary>Largest crop aspect ratio (width over height), at least <see cref="MinAspect"/>.</summary>
    public double MaxAspect { get; init; } = 4.0 / 3;

    /// <summary>Probability, in [0, 1], that an image is mirrored left to right; 0 turns flipping off.</summary>
    public double HorizontalFlipProbability { get; init; }

    /// <summary>
    /// Shift each image by a whole number of pixels drawn uniformly from [-value, value], across and down
    /// independently, filling with zeros (black), as padding by <c>value</c> and cropping back does on CIFAR and
    /// Fashion-MNIST; 0 turns it off. Without <see cref="RandomResizedCrop"/> the shift is exact (no resample).
    /// </summary>
    public int MaxTranslation { get; init; }

    /// <summary>Brightness jitter b: pixels are scaled by a factor uniform in [max(0, 1 - b), 1 + b]; 0 turns it off.</summary>
    public double Brightness { get; init; }

    /// <summary>Contrast jitter, same convention as <see cref="Brightness"/>: each image is blended with its mean grey level.</summary>
    public double Contrast { get; init; }

    /// <summary>
    /// Saturation jitter, same convention as <see cref="Brightness"/>: each pixel is blended with its own grey level.
    /// Grey (one-channel) images are left as they are.
    /// </summary>
    public double Saturation { get; init; }

    /// <summary>
    /// AlexNet's PCA lighting noise (Krizhevsky et al. 2012, section 4.1): per image, alpha ~ N(0, value) (value is the
    /// standard deviation) along each principal component of ImageNet's RGB pixels; 0 turns it off. Grey images are
    /// left as they are.
    /// </summary>
    public double PcaLighting { get; init; }

    /// <summary>
    /// Random erasing (Zhong et al., "Random Erasing Data Augmentation", AAAI 2020): with this probability, in [0, 1],
    /// a box of each image is replaced by uniform noise in [0, 255] (the paper's RE-R); 0 turns it off. It runs last,
    /// after every other operation, as torchvision's RandomErasing does.
    /// </summary>
    public double ErasingProbability { get; init; }

    /// <summary>Smallest erased area as a fraction of the image, in (0, 1] (the paper's s_l: 0.02).</summary>
    public double ErasingMinArea { get; init; } = 0.02;

    /// <summary>Largest erased area as a fraction of the image, in [<see cref="ErasingMinArea"/>, 1] (the paper's s_h: 0.4).</summary>
    public double ErasingMaxArea { get; init; } = 0.4;

    /// <summary>
    /// Smallest aspect ratio (height over width) of the erased box, in (0, 1]; the largest is its inverse, and the ratio is
    /// drawn log-uniformly between them (the paper's r_1: 0.3). When 10 draws give no box that fits, the image is left whole.
    /// </summary>
    public double ErasingMinAspect { get; init; } = 0.3;

    /// <summary>Every operation off: <see cref="BatchAugmenter.Apply"/> returns the images unchanged.</summary>
    public static AugmentationOptions None { get; } = new();

    /// <summary>
    /// Bag of Tricks section 2.1: crop area 8-100 %, aspect 3/4-4/3, flip with probability 0.5, brightness, contrast and
    /// saturation 0.4 (factors in [0.6, 1.4], as the paper's reference code GluonCV jitters them), PCA noise N(0, 0.1).
    /// </summary>
    public static AugmentationOptions BagOfTricks { get; } = new()
    {
        RandomResizedCrop = true,
        HorizontalFlipProbability = 0.5,
        Brightness = 0.4,
        Contrast = 0.4,
        Saturation = 0.4,
        PcaLighting = 0.1,
    };

    /// <summary>True when every operation is off.</summary>
    public bool IsIdentity =>
        !RandomResizedCrop && HorizontalFlipProbability == 0 && MaxTranslation == 0 && ErasingProbability == 0 && Brightness == 0 && Contrast == 0 && Saturation == 0 && PcaLighting == 0;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/>, naming the property and its value, when a setting is out of range.</summary>
    public AugmentationOptions Validate()
    {
        Require(MinArea is > 0 and <= 1, nameof(MinArea), MinArea, "in (0, 1]");
        Require(MaxArea is > 0 and <= 1, nameof(MaxArea), MaxArea, "in (0, 1]");
        Require(MaxArea >= MinArea, nameof(MaxArea), MaxArea, $"at least MinArea ({MinArea})");
        Require(MinAspect > 0 && double.IsFinite(MinAspect), nameof(MinAspect), MinAspect, "positive and finite");
        Require(MaxAspect >= MinAspect && double.IsFinite(MaxAspect), nameof(MaxAspect), MaxAspect, $"finite and at least MinAspect ({MinAspect})");
        Require(HorizontalFlipProbability is >= 0 and <= 1, nameof(HorizontalFlipProbability), HorizontalFlipProbability, "in [0, 1]");
        Require(MaxTranslation >= 0, nameof(MaxTranslation), MaxTranslation, "non-negative");
        Require(ErasingProbability is >= 0 and <= 1, nameof(ErasingProbability), ErasingProbability, "in [0, 1]");
        Require(ErasingMinArea is > 0 and <= 1, nameof(ErasingMinArea), ErasingMinArea, "in (0, 1]");
        Require(ErasingMaxArea is > 0 and <= 1, nameof(ErasingMaxArea), ErasingMaxArea, "in (0, 1]");
        Require(ErasingMaxArea >= ErasingMinArea, nameof(ErasingMaxArea), ErasingMaxArea, $"at least ErasingMinArea ({ErasingMinArea})");
        Require(ErasingMinAspect is > 0 and <= 1, nameof(ErasingMinAspect), ErasingMinAspect, "in (0, 1]");
        RequireStrength(Brightness, nameof(Brightness));
        RequireStrength(Contrast, nameof(Contrast));
        RequireStrength(Saturation, nameof(Saturation));
        RequireStrength(PcaLighting, nameof(PcaLighting));
        return this;
    }

    private static void RequireStrength(double value, string name) => Require(value >= 0 && double.IsFinite(value), name, value, "non-negative and finite");

    private static void Require(bool valid, string name, double value, string rule)
    {
        if (!valid)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be {rule}; got {value}.");
        }
    }
}
