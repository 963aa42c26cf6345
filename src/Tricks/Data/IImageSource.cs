using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Tricks.Data;

/// <summary>How a source stores one pixel value.</summary>
public enum ImagePixelType
{
    /// <summary>One byte, 0..255 (decoded images, and pixel vectors whose values are all 0..255 integers).</summary>
    Byte,

    /// <summary>A float32 (pixel vectors holding other values).</summary>
    Single,
}

/// <summary>
/// Labelled images the trainer reads by row, in any order: held in memory (<see cref="ImageDataset"/>) or
/// produced on demand (<see cref="StreamingImageSource"/>). The trainer asks for the rows of each batch of
/// its (seed, epoch) shuffle, on background threads, a bounded number of batches ahead.
/// </summary>
public interface IImageSource : IDisposable
{
    /// <summary>Number of images (rows).</summary>
    int Count { get; }

    /// <summary>Shape of one image.</summary>
    ImageShape Shape { get; }

    /// <summary>Number of classes.</summary>
    int NumClasses { get; }

    /// <summary>Class index (0-based) of each row.</summary>
    IReadOnlyList<int> Labels { get; }

    /// <summary>
    /// Teacher logits (or log-probabilities) per row, <see cref="Count"/> x <see cref="NumClasses"/>,
    /// row-major: the soft targets of knowledge distillation when the teacher ran before training. Null
    /// when there is none.
    /// </summary>
    float[]? TeacherLogits { get; }

    /// <summary>How <see cref="ReadImage"/> writes pixel values.</summary>
    ImagePixelType PixelType { get; }

    /// <summary>How many rows the trainer may read at once, on as many threads (1 for a memory copy).</summary>
    int ReadParallelism { get; }

    /// <summary>
    /// Writes the pixels of <paramref name="row"/> (C x H x W, channels first) into
    /// <paramref name="destination"/>: <see cref="ImageShape.Size"/> bytes, or as many float32 values as
    /// bytes when <see cref="PixelType"/> is <see cref="ImagePixelType.Single"/>. Called from several
    /// threads at once for different rows.
    /// </summary>
    /// <exception cref="InvalidDataException">The image cannot be read; the message names it (the trainer skips it, or fails in strict mode).</exception>
    void ReadImage(int row, Span<byte> destination);
}
