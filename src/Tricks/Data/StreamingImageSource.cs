using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Tricks.Data;

/// <summary>
/// Decodes the image of <paramref name="row"/> into <paramref name="pixels"/>: C x H x W bytes (0..255),
/// channels first, resized to the source's shape. Called from several threads at once for different rows.
/// </summary>
/// <exception cref="InvalidDataException">The image cannot be read; the message names it.</exception>
public delegate void ImageDecoder(int row, Span<byte> pixels);

/// <summary>
/// Images produced on demand by a decoder the caller gives (typically: read a file, decode, resize), in
/// parallel on <see cref="DataOptions.DecodeParallelism"/> threads, a bounded number of batches ahead of
/// the training step. Only the labels stay in memory. With <see cref="DataOptions.CacheDecodedImages"/>
/// every decoded image is also written (uint8) to a temporary file, so later epochs read it from there
/// and do not decode again.
/// </summary>
public sealed class StreamingImageSource : LabeledImageSource
{
    private readonly ImageDecoder _decoder;
    private readonly FilePixelStore? _cache;
    private readonly byte[]? _cached;

    /// <summary>Creates the source; nothing is decoded until rows are read.</summary>
    /// <param name="shape">Shape of every decoded image.</param>
    /// <param name="labels">Class index of each row.</param>
    /// <param name="numClasses">Number of classes.</param>
    /// <param name="decoder">Produces the pixels of a row.</param>
    /// <param name="options">Decode threads and the cache (null: the defaults).</param>
    /// <exception cref="IOException">With <see cref="DataOptions.CacheDecodedImages"/>: the cache folder's disk has less free space than the cache needs (the message gives both figures).</exception>
    public StreamingImageSource(ImageShape shape, int[] labels, int numClasses, ImageDecoder decoder, DataOptions? options = null)
        : base(labels, shape, numClasses, ImagePixelType.Byte, (options ?? new DataOptions()).Validate().DecodeParallelism)
    {
        options ??= new DataOptions();
        _decoder = decoder ?? throw new ArgumentNullException(nameof(decoder));
        if (options.CacheDecodedImages)
        {
            _cache = new FilePixelStore(options.FileDirectory, shape.Size, labels.Length, PixelFileUse.DecodedImageCache);
            _cached = new byte[labels.Length];
        }
    }

    /// <summary>Where the cache file was created (null without a cache).</summary>
    public string? CachePath => _cache?.Path;

    /// <inheritdoc/>
    public override void ReadImage(int row, Span<byte> destination)
    {
        CheckRow(row);
        if (_cache is not null && Volatile.Read(ref _cached![row]) != 0)
        {
            _cache.Read(row, destination);
            return;
        }

        _decoder(row, destination[..Shape.Size]);
        if (_cache is not null)
        {
            _cache.Write(row, destination);
            Volatile.Write(ref _cached![row], 1);
        }
    }

    /// <summary>Deletes the cache file.</summary>
    public override void Dispose() => _cache?.Dispose();
}
