using System.Globalization;

namespace MLNetCnn.Serving;

/// <summary>
/// The largest image any MLNetCnn decoder accepts: the folder loader, the path and bytes columns of training
/// and of saved models, the MLImage column before it is resized, the <c>mlnetcnn</c> tool and the serving
/// sample. The size is read from the file's header before a single pixel is decoded, so a file of a hundred
/// bytes that declares 60000 x 60000 pixels costs nothing; decoding one image at the limit takes about
/// 2 x 4 bytes per pixel (the decoded bitmap and the <c>MLImage</c> copy), 320 MB at the default.
/// </summary>
/// <remarks>
/// The default, 40 megapixels and 32,768 pixels a side, passes most photos phones write in their usual modes
/// (48-megapixel sensors save 12-megapixel images unless asked otherwise) and long panoramas, and keeps one
/// decoded image at 160 MB of BGRA pixels. High-resolution cameras (45 to 102 megapixels), full-resolution phone
/// modes and large progressive JPEGs need a higher limit. A
/// classifier sees the image resized to a few hundred pixels a side, so nothing is lost by refusing more.
/// The limit is process-wide because the decoding steps of a saved model are stateless mappings that ML.NET
/// recreates by name when it loads the model: set <see cref="Current"/> once at start-up.
/// </remarks>
public sealed record ImageDecodeLimit
{
    /// <summary>Default <see cref="MaxPixels"/>: 40 megapixels.</summary>
    public const long DefaultMaxPixels = 40_000_000;

    /// <summary>Default <see cref="MaxSide"/>: 32,768 pixels.</summary>
    public const int DefaultMaxSide = 32_768;

    /// <summary>The most pixels one <c>MLImage</c> can hold: 4 bytes each in an int-sized buffer.</summary>
    public const long LargestPossible = int.MaxValue / 4;

    private static ImageDecodeLimit _current = new();

    private readonly long _maxPixels = DefaultMaxPixels;
    private readonly int _maxSide = DefaultMaxSide;

    /// <summary>Width x height above which an image is refused (1 to <see cref="LargestPossible"/>).</summary>
    public long MaxPixels
    {
        get => _maxPixels;
        init => _maxPixels = value is >= 1 and <= LargestPossible ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxPixels), value, $"The pixel limit must be between 1 and {LargestPossible} (4 bytes a pixel in one buffer).");
    }

    /// <summary>Width or height above which an image is refused (at least 1).</summary>
    public int MaxSide
    {
        get => _maxSide;
        init => _maxSide = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxSide), value, "The side limit must be at least 1 pixel.");
    }

    /// <summary>The limit every MLNetCnn decoder applies, for the whole process (<see cref="ImageDecodeLimit()"/>'s defaults unless set).</summary>
    public static ImageDecodeLimit Current
    {
        get => Volatile.Read(ref _current);
        set => Volatile.Write(ref _current, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>
    /// The largest image file the decoders read: 8 bytes a pixel of <see cref="MaxPixels"/> (uncompressed 16-bit RGBA) and
    /// 1 MiB of metadata. No file over it holds an image within the limit, and files are read whole before decoding.
    /// </summary>
    public long MaxFileBytes => (MaxPixels * 8) + (1 << 20);

    /// <summary>Throws when a <paramref name="width"/> x <paramref name="height"/> image is over the limit.</summary>
    /// <param name="width">Declared width.</param>
    /// <param name="height">Declared height.</param>
    /// <param name="source">What the image is, for the message: "image 'a.png'", "posted image (138 bytes)".</param>
    /// <exception cref="InvalidDataException">Over the limit; its <see cref="Exception.InnerException"/> is an <see cref="ImageTooLargeException"/> with the declared size (a web service answers 413 for it, 400 for other bad images).</exception>
    public void Check(int width, int height, string source) => Check(width, height, source, 0, null);

    /// <summary>
    /// As <see cref="Check(int, int, string)"/>, for an image whose decoder holds <paramref name="extraBytesPerPixel"/>
    /// more than the 8 bytes a pixel the limit is set for (<paramref name="why"/> says which decoder): it counts as that
    /// many more pixels, so decoding it stays within the memory an image at the limit takes.
    /// </summary>
    internal void Check(int width, int height, string source, int extraBytesPerPixel, string? why)
    {
        long pixels = (long)width * height;
        long counted = pixels + (pixels * extraBytesPerPixel / 8);
        if (counted > MaxPixels || width > MaxSide || height > MaxSide)
        {
            var tooLarge = new ImageTooLargeException(source, width, height, this, counted > pixels ? (counted, why ?? "a decoder that holds more") : null);
            throw new InvalidDataException(tooLarge.Message, tooLarge);
        }
    }
}

/// <summary>
/// An image whose header declares more pixels than <see cref="ImageDecodeLimit"/> allows; nothing was decoded.
/// The decoders throw it as the <see cref="Exception.InnerException"/> of the <see cref="InvalidDataException"/>
/// every bad image raises (that class is sealed), so one catch handles every bad image and this one can be told apart.
/// </summary>
public sealed class ImageTooLargeException : Exception
{
    /// <summary>Creates the exception for <paramref name="source"/>.</summary>
    public ImageTooLargeException(string source, int width, int height, ImageDecodeLimit limit)
        : this(source, width, height, limit, null)
    {
    }

    /// <summary>Creates the exception for an image that <paramref name="counted"/> as more pixels than it has, and why.</summary>
    internal ImageTooLargeException(string source, int width, int height, ImageDecodeLimit limit, (long Pixels, string Why)? counted)
        : base(string.Create(CultureInfo.InvariantCulture, $"The {source} declares {width} x {height} = {(long)width * height:N0} pixels{(counted is { } c ? $", {c.Why}, so it counts as {c.Pixels:N0}" : string.Empty)}: over the decode limit of {limit.MaxPixels:N0} pixels and {limit.MaxSide:N0} a side (ImageDecodeLimit.Current); it was not decoded."))
    {
        Width = width;
        Height = height;
    }

    /// <summary>Declared width.</summary>
    public int Width { get; }

    /// <summary>Declared height.</summary>
    public int Height { get; }
}
