using System.Runtime.InteropServices;
using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Tricks.Data;

/// <summary>
/// Images stored whole (N x C x H x W, channels first) with 0-based class indices: in memory, as uint8
/// or float32, or in a temporary file on disk when <see cref="Allocate"/> is given a folder.
/// </summary>
public sealed class ImageDataset : LabeledImageSource
{
    private readonly PixelStore _store;

    /// <summary>Wraps float32 pixels (<paramref name="labels"/>.Length images, one after another) without copying them.</summary>
    public ImageDataset(float[] pixels, int[] labels, ImageShape shape, int numClasses)
        : this(Wrap(pixels, labels, shape), labels, shape, numClasses, ImagePixelType.Single, 1)
    {
    }

    /// <summary>Wraps uint8 pixels (0..255, <paramref name="labels"/>.Length images, one after another) without copying them.</summary>
    public ImageDataset(byte[] pixels, int[] labels, ImageShape shape, int numClasses)
        : this(Wrap(pixels, labels, shape), labels, shape, numClasses, ImagePixelType.Byte, 1)
    {
    }

    private ImageDataset(PixelStore store, int[] labels, ImageShape shape, int numClasses, ImagePixelType pixelType, int readParallelism)
        : base(labels, shape, numClasses, pixelType, readParallelism)
    {
        _store = store;
    }

    /// <summary>Whether the images are in a file on disk rather than in memory.</summary>
    public bool OnDisk => _store.OnDisk;

    /// <summary>Bytes the stored images take (in memory, or on disk when <see cref="OnDisk"/>).</summary>
    public long StoredBytes => (long)Count * _store.RowBytes;

    /// <summary>
    /// Largest pixel magnitude <see cref="ImageSources.Statistics"/> accepts: far above any image unit (0..255, 0..1,
    /// 16-bit 0..65535, standardized values), far below where one pixel could swamp the statistics of all others.
    /// </summary>
    public const float MaxPixelMagnitude = 1e6f;

    /// <summary>
    /// Zeroed storage for one image per label, to be filled with <see cref="WriteImage(int, ReadOnlySpan{byte})"/>.
    /// With <paramref name="directory"/> the images go to a temporary file there (deleted when the dataset
    /// is disposed) and are read on up to <paramref name="readParallelism"/> threads; without, to memory.
    /// </summary>
    /// <exception cref="IOException">The disk of <paramref name="directory"/> has less free space than the images need (the message gives both figures).</exception>
    public static ImageDataset Allocate(int[] labels, ImageShape shape, int numClasses, ImagePixelType pixelType, string? directory = null, int readParallelism = 1)
    {
        shape.Validate(nameof(ImageDataset));
        int rowBytes = ImageSources.RowBytes(shape, pixelType);
        PixelStore store = directory is null ? MemoryPixelStore.Allocate(labels.Length, rowBytes) : new FilePixelStore(directory, rowBytes, labels.Length, PixelFileUse.Column);
        try
        {
            return new ImageDataset(store, labels, shape, numClasses, pixelType, readParallelism);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Stores the uint8 pixels of <paramref name="row"/> (a <see cref="ImagePixelType.Byte"/> dataset).</summary>
    public void WriteImage(int row, ReadOnlySpan<byte> pixels)
    {
        CheckWrite(row, pixels.Length, ImagePixelType.Byte);
        _store.Write(row, pixels);
    }

    /// <summary>Stores the float32 pixels of <paramref name="row"/> (a <see cref="ImagePixelType.Single"/> dataset).</summary>
    public void WriteImage(int row, ReadOnlySpan<float> pixels)
    {
        CheckWrite(row, pixels.Length, ImagePixelType.Single);
        _store.Write(row, MemoryMarshal.AsBytes(pixels));
    }

    /// <inheritdoc/>
    public override void ReadImage(int row, Span<byte> destination)
    {
        CheckRow(row);
        _store.Read(row, destination);
    }

    /// <summary>Deletes the file of a dataset on disk; nothing to release for one in memory.</summary>
    public override void Dispose() => _store.Dispose();

    private static MemoryPixelStore Wrap(Array pixels, int[] labels, ImageShape shape)
    {
        shape.Validate(nameof(ImageDataset));
        if (pixels.LongLength != (long)labels.Length * shape.Size)
        {
            throw new ArgumentException($"Expected {labels.Length} images of {shape} = {(long)labels.Length * shape.Size} values; found {pixels.LongLength}.", nameof(pixels));
        }

        return MemoryPixelStore.Wrap(pixels, shape.Size, ImageSources.RowBytes(shape, pixels is byte[] ? ImagePixelType.Byte : ImagePixelType.Single));
    }

    private void CheckWrite(int row, int values, ImagePixelType type)
    {
        CheckRow(row);
        if (type != PixelType)
        {
            throw new InvalidOperationException($"This dataset stores {PixelType} pixels; {type} values were given.");
        }

        if (values != Shape.Size)
        {
            throw new ArgumentException($"Row {row}: {values} pixel values given; an image of {Shape} has {Shape.Size}.");
        }
    }
}
