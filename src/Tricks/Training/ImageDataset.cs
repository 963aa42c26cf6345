using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Tricks.Training;

/// <summary>
/// Images held in memory as one flat float array (N x C x H x W, channels first) with 0-based class
/// indices. The ML.NET bridge fills it from an IDataView after validating every value.
/// </summary>
public sealed class ImageDataset
{
    /// <summary>Wraps arrays without copying them.</summary>
    public ImageDataset(float[] pixels, int[] labels, ImageShape shape, int numClasses)
    {
        shape.Validate(nameof(ImageDataset));
        if (pixels.Length != (long)labels.Length * shape.Size)
        {
            throw new ArgumentException($"Expected {labels.Length} images of {shape} = {(long)labels.Length * shape.Size} values; found {pixels.Length}.", nameof(pixels));
        }

        if (numClasses < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "A classifier needs at least 2 classes.");
        }

        int bad = Array.FindIndex(labels, l => l < 0 || l >= numClasses);
        if (bad >= 0)
        {
            throw new ArgumentException($"Label at row {bad} is {labels[bad]}; expected 0..{numClasses - 1}.", nameof(labels));
        }

        Pixels = pixels;
        Labels = labels;
        Shape = shape;
        NumClasses = numClasses;
    }

    /// <summary>
    /// Teacher logits (or log-probabilities) per image, N x classes, row-major: the soft targets of
    /// knowledge distillation when the teacher ran before training (for example a teacher transformer's
    /// score column). Null when there is none.
    /// </summary>
    public float[]? TeacherLogits { get; private init; }

    /// <summary>A copy of this dataset (sharing the arrays) that carries <paramref name="teacherLogits"/>.</summary>
    public ImageDataset WithTeacherLogits(float[] teacherLogits)
    {
        if (teacherLogits.Length != (long)Count * NumClasses)
        {
            throw new ArgumentException($"Teacher logits must hold {Count} rows x {NumClasses} classes = {(long)Count * NumClasses} values; found {teacherLogits.Length}.", nameof(teacherLogits));
        }

        int bad = Array.FindIndex(teacherLogits, v => !float.IsFinite(v));
        if (bad >= 0)
        {
            throw new ArgumentException($"Teacher logit of row {bad / NumClasses}, class {bad % NumClasses} is {teacherLogits[bad]}; expected a finite value.", nameof(teacherLogits));
        }

        return new ImageDataset(Pixels, Labels, Shape, NumClasses) { TeacherLogits = teacherLogits };
    }

    /// <summary>All pixel values, image after image.</summary>
    public float[] Pixels { get; }

    /// <summary>Class index of each image.</summary>
    public int[] Labels { get; }

    /// <summary>Shape of one image.</summary>
    public ImageShape Shape { get; }

    /// <summary>Number of classes.</summary>
    public int NumClasses { get; }

    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>
    /// Splits off a validation part per class: of each class's n images, round(<paramref name="fraction"/> x n)
    /// (at least one where the class has two or more) chosen at random by <paramref name="seed"/>, so every class
    /// with two or more images appears on both sides in the data's own proportions (within one image). Rows keep
    /// their order; teacher logits travel with their rows.
    /// </summary>
    public (ImageDataset Train, ImageDataset Validation) StratifiedSplit(double fraction, int seed)
    {
        if (!(fraction > 0 && fraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The validation fraction must be in (0, 1).");
        }

        var random = new Random(seed);
        var heldOut = new bool[Count];
        foreach (var rows in Enumerable.Range(0, Count).GroupBy(i => Labels[i]).OrderBy(g => g.Key))
        {
            var indices = rows.ToArray();
            random.Shuffle(indices);
            int take = indices.Length < 2 ? 0 : Math.Clamp((int)Math.Round(fraction * indices.Length, MidpointRounding.AwayFromZero), 1, indices.Length - 1);
            foreach (int i in indices.Take(take))
            {
                heldOut[i] = true;
            }
        }

        return (Subset(Enumerable.Range(0, Count).Where(i => !heldOut[i]).ToArray()), Subset(Enumerable.Range(0, Count).Where(i => heldOut[i]).ToArray()));
    }

    /// <summary>The images at <paramref name="indices"/>, copied, in that order.</summary>
    public ImageDataset Subset(IReadOnlyList<int> indices)
    {
        int size = Shape.Size;
        var pixels = new float[(long)indices.Count * size];
        var labels = new int[indices.Count];
        float[]? teacher = TeacherLogits is null ? null : new float[(long)indices.Count * NumClasses];
        for (int r = 0; r < indices.Count; r++)
        {
            int i = indices[r];
            Array.Copy(Pixels, (long)i * size, pixels, (long)r * size, size);
            labels[r] = Labels[i];
            if (teacher is not null)
            {
                Array.Copy(TeacherLogits!, (long)i * NumClasses, teacher, (long)r * NumClasses, NumClasses);
            }
        }

        var subset = new ImageDataset(pixels, labels, Shape, NumClasses);
        return teacher is null ? subset : subset.WithTeacherLogits(teacher);
    }

    /// <summary>
    /// Largest pixel magnitude <see cref="ChannelStatistics"/> accepts: far above any image unit (0..255, 0..1,
    /// 16-bit 0..65535, standardized values), far below where one pixel could swamp the statistics of all others.
    /// </summary>
    public const float MaxPixelMagnitude = 1e6f;

    /// <summary>Per-channel mean and standard deviation over all images, accumulated in double.</summary>
    /// <exception cref="InvalidDataException">A pixel's magnitude exceeds <see cref="MaxPixelMagnitude"/>; the message names the row, channel and value.</exception>
    public (float[] Mean, float[] Std) ChannelStatistics()
    {
        int c = Shape.Channels;
        int plane = Shape.Height * Shape.Width;
        var sum = new double[c];
        var sumSq = new double[c];
        for (int i = 0; i < Count; i++)
        {
            for (int ch = 0; ch < c; ch++)
            {
                var span = Pixels.AsSpan(((i * c) + ch) * plane, plane);
                foreach (float v in span)
                {
                    if (!(Math.Abs(v) <= MaxPixelMagnitude))
                    {
                        throw new InvalidDataException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Image at row {i}, channel {ch} has the pixel value {v}, beyond +-{MaxPixelMagnitude:G}; the mean and standard deviation baked into the model would be ruined by it (the other images would normalize to about 0). Check the image column's units."));
                    }

                    sum[ch] += v;
                    sumSq[ch] += (double)v * v;
                }
            }
        }

        double n = (double)Count * plane;
        var mean = sum.Select(s => (float)(s / n)).ToArray();
        var std = sumSq.Select((s, ch) => (float)Math.Sqrt(Math.Max(1e-12, (s / n) - ((sum[ch] / n) * (sum[ch] / n))))).ToArray();
        return (mean, std);
    }
}
