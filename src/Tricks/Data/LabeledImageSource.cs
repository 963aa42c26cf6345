using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Tricks.Data;

/// <summary>What the library's sources share: labels, shape and class count, checked once; no teacher logits (see <see cref="ImageSources.WithTeacherLogits"/>).</summary>
public abstract class LabeledImageSource : IImageSource
{
    /// <summary>Checks and keeps the labels and shape.</summary>
    private protected LabeledImageSource(int[] labels, ImageShape shape, int numClasses, ImagePixelType pixelType, int readParallelism)
    {
        shape.Validate(GetType().Name);
        if (numClasses < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "A classifier needs at least 2 classes.");
        }

        int bad = Array.FindIndex(labels, l => l < 0 || l >= numClasses);
        if (bad >= 0)
        {
            throw new ArgumentException($"Label at row {bad} is {labels[bad]}; expected 0..{numClasses - 1}.", nameof(labels));
        }

        Labels = labels;
        Shape = shape;
        NumClasses = numClasses;
        PixelType = pixelType;
        ReadParallelism = Math.Max(1, readParallelism);
    }

    /// <summary>Class index of each image.</summary>
    public int[] Labels { get; }

    /// <inheritdoc/>
    IReadOnlyList<int> IImageSource.Labels => Labels;

    /// <inheritdoc/>
    public ImageShape Shape { get; }

    /// <inheritdoc/>
    public int NumClasses { get; }

    /// <inheritdoc/>
    public int Count => Labels.Length;

    /// <inheritdoc/>
    public float[]? TeacherLogits => null;

    /// <inheritdoc/>
    public ImagePixelType PixelType { get; }

    /// <inheritdoc/>
    public int ReadParallelism { get; }

    /// <inheritdoc/>
    public abstract void ReadImage(int row, Span<byte> destination);

    /// <inheritdoc/>
    public abstract void Dispose();

    /// <summary>Throws when <paramref name="row"/> is not a row of this source.</summary>
    private protected void CheckRow(int row)
    {
        if ((uint)row >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(row), row, $"The source has rows 0..{Count - 1}.");
        }
    }
}
