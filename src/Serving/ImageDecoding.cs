using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Image;
using SkiaSharp;

namespace MLNetCnn.Serving;

/// <summary>Input of <see cref="ImageFileDecoder"/>: the path of an image file.</summary>
public sealed class ImagePathRow
{
    /// <summary>Path of a jpg, png, bmp, gif or webp file.</summary>
    [ColumnName(ImageDecoding.SourceColumnName)]
    public string ImagePath { get; set; } = string.Empty;
}

/// <summary>Input of <see cref="ImageBytesDecoder"/>: the encoded bytes of an image file.</summary>
public sealed class ImageBytesRow
{
    /// <summary>The file's bytes (as <c>LoadRawImageBytes</c> reads them).</summary>
    [ColumnName(ImageDecoding.SourceColumnName)]
    [VectorType]
    public byte[] ImageBytes { get; set; } = Array.Empty<byte>();
}

/// <summary>Output of the decoders: the decoded image.</summary>
public sealed class DecodedImageRow
{
    /// <summary>The image, any size, 32-bit BGRA.</summary>
    /// <remarks>The attribute's 1 x 1 is nominal (ML.NET's attribute needs a size); the next step resizes whatever size arrives.</remarks>
    [ColumnName(ImageDecoding.DecodedColumnName)]
    [ImageType(1, 1)]
    public MLImage? Image { get; set; }
}

/// <summary>
/// Decodes an image file named by a text column (the first step of a model trained on image paths).
/// A stateless mapping: saved models store its contract name and need this assembly registered to load
/// (<c>mlContext.Cnn()</c> does it).
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class ImageFileDecoder : CustomMappingFactory<ImagePathRow, DecodedImageRow>
{
    /// <summary>Contract name stored in saved models.</summary>
    public const string ContractName = "MLNetCnn.DecodeImageFile";

    /// <summary>The mapping itself.</summary>
    /// <exception cref="InvalidDataException">The file is missing or is not a decodable image; the message names it.</exception>
    public static void Map(ImagePathRow input, DecodedImageRow output)
    {
        // ML.NET reuses the output row per cursor: free the previous row's native bitmap now rather than at finalization.
        output.Image?.Dispose();
        output.Image = ImageDecoding.Track(ImageDecoding.DecodeFile(input.ImagePath));
    }

    /// <inheritdoc/>
    public override Action<ImagePathRow, DecodedImageRow> GetMapping() => Map;
}

/// <summary>
/// Decodes the encoded bytes of an image file (a column from <c>LoadRawImageBytes</c>, or bytes posted
/// to a web service). Stateless, like <see cref="ImageFileDecoder"/>.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class ImageBytesDecoder : CustomMappingFactory<ImageBytesRow, DecodedImageRow>
{
    /// <summary>Contract name stored in saved models.</summary>
    public const string ContractName = "MLNetCnn.DecodeImageBytes";

    /// <summary>The mapping itself.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a decodable image.</exception>
    public static void Map(ImageBytesRow input, DecodedImageRow output)
    {
        output.Image?.Dispose(); // as in ImageFileDecoder.Map
        output.Image = ImageDecoding.Track(ImageDecoding.DecodeBytes(input.ImageBytes, "encoded image"));
    }

    /// <inheritdoc/>
    public override Action<ImageBytesRow, DecodedImageRow> GetMapping() => Map;
}

/// <summary>Input of <see cref="ImageSizeCheck"/>: an image decoded before the model (ML.NET's <c>LoadImages</c>), of any size.</summary>
public sealed class LoadedImageRow
{
    /// <summary>The image.</summary>
    /// <remarks>No <c>ImageType</c> attribute: that would declare a fixed size, and <c>LoadImages</c> makes images of unknown size (see <see cref="ImageSizeCheck.RegisterImageType"/>).</remarks>
    [ColumnName(ImageDecoding.SourceColumnName)]
    public MLImage? Image { get; set; }
}

/// <summary>
/// The first step of a model trained on an <see cref="MLImage"/> column: refuses an image over
/// <see cref="ImageDecodeLimit.Current"/> before it is resized. ML.NET's <c>LoadImages</c> has already decoded it
/// (the header check of <see cref="ImageFileDecoder"/> and <see cref="ImageBytesDecoder"/> cannot happen here), so
/// for images from strangers give the model a path or bytes column. Stateless, like the decoders.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class ImageSizeCheck : CustomMappingFactory<LoadedImageRow, DecodedImageRow>
{
    /// <summary>Contract name stored in saved models.</summary>
    public const string ContractName = "MLNetCnn.CheckImageSize";

    /// <summary>Created by ML.NET when it loads a saved model that holds this step.</summary>
    public ImageSizeCheck() => RegisterImageType();

    /// <summary>
    /// Maps an <see cref="MLImage"/> member without attributes to ML.NET's image type of unknown size, the type
    /// <c>LoadImages</c> produces; an <c>ImageType</c> attribute can only declare a fixed size. Idempotent.
    /// </summary>
    internal static void RegisterImageType() => DataViewTypeManager.Register(new ImageDataViewType(), typeof(MLImage));

    /// <summary>The mapping itself: passes the same image on (the column that made it owns it).</summary>
    /// <exception cref="InvalidDataException">The image is missing or over the limit.</exception>
    public static void Map(LoadedImageRow input, DecodedImageRow output)
    {
        var image = input.Image ?? throw new InvalidDataException("An image of the image column is missing (null).");
        string source = string.IsNullOrEmpty(image.Tag) ? "image" : $"image '{image.Tag}'";
        ImageDecodeLimit.Current.Check(image.Width, image.Height, source + " (decoded before the model by LoadImages)");
        output.Image = image;
    }

    /// <inheritdoc/>
    public override Action<LoadedImageRow, DecodedImageRow> GetMapping() => Map;
}

/// <summary>
/// Decoding with errors that say what was wrong and where. Every image this library decodes comes through
/// here: the header is read first and checked against <see cref="ImageDecodeLimit.Current"/> before a pixel
/// buffer exists, and a file that ends before its last pixel (SkiaSharp would fill the rest with black) is
/// refused rather than scored.
/// </summary>
public static class ImageDecoding
{
    /// <summary>Intermediate column the decoders read (a copy of the user's image column).</summary>
    public const string SourceColumnName = "mlnetcnn_image_source";

    /// <summary>Intermediate column holding the decoded image.</summary>
    public const string DecodedColumnName = "mlnetcnn_image";

    /// <summary>
    /// What SkiaSharp's codec may find in a file this library decodes: the formats of <see cref="Extensions"/>. SkiaSharp
    /// also reads ICO and WBMP, which the folder loader skips and no message named; an ICO of 65,535 entries cost
    /// 248 MB to open, so both are refused wherever they come from (a posted body, a path given by hand): by their first
    /// bytes before SkiaSharp opens them (<see cref="EncodedHeader.IsReadFormat"/>), and by what SkiaSharp found after.
    /// </summary>
    private static readonly IReadOnlySet<SKEncodedImageFormat> DocumentedFormats = new HashSet<SKEncodedImageFormat>
    {
        SKEncodedImageFormat.Jpeg, SKEncodedImageFormat.Png, SKEncodedImageFormat.Bmp, SKEncodedImageFormat.Gif, SKEncodedImageFormat.Webp,
    };

    /// <summary>The formats of <see cref="Extensions"/> as every decoding error names them.</summary>
    private const string ReadFormats = "jpg, png, bmp, gif or webp";

    /// <summary>File extensions the folder loader takes as images (SkiaSharp decodes them).</summary>
    public static readonly IReadOnlySet<string> Extensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp" };

    [ThreadStatic]
    private static List<MLImage>? t_released;

    /// <summary>
    /// Frees, when disposed, the images the decoders make on this thread meanwhile. ML.NET keeps a decoded image in
    /// the engine's row until that engine's next call, so a pool of idle engines would hold one full-size image
    /// each; <c>PredictionEnginePool.Predict</c> scores inside this scope, where the image is no longer needed once
    /// the prediction is out.
    /// </summary>
    internal static ReleaseScope ReleaseDecodedImages()
    {
        var outer = t_released;
        t_released = [];
        return new ReleaseScope(outer);
    }

    /// <summary>Registers <paramref name="image"/> with the current <see cref="ReleaseDecodedImages"/> scope, if any.</summary>
    internal static MLImage Track(MLImage image)
    {
        t_released?.Add(image);
        return image;
    }

    /// <summary>See <see cref="ReleaseDecodedImages"/>.</summary>
    internal readonly struct ReleaseScope(List<MLImage>? outer) : IDisposable
    {
        public void Dispose()
        {
            foreach (var image in t_released ?? [])
            {
                image.Dispose();
            }

            t_released = outer;
        }
    }

    /// <summary>Decodes an image file.</summary>
    /// <exception cref="InvalidDataException">
    /// The file is missing, empty, not a regular file (a FIFO or device is never opened), over the decode limit,
    /// truncated or not a decodable image; the message names it.
    /// </exception>
    public static MLImage DecodeFile(string path)
    {
        // A copy in native memory, not a mapping of the file (SKData.Create(path)): a mapped file cut short while it
        // decoded (being overwritten) ended the process with SIGBUS; a copy decodes as truncated.
        return Decode(ReadFile(path), $"image '{path}'");
    }

    /// <summary>Reads an image file's bytes (for a model that scores encoded bytes), with the checks of <see cref="DecodeFile"/> before opening it.</summary>
    /// <exception cref="InvalidDataException">The file is missing, empty, not a regular file, larger than any image within the decode limit, or cannot be read; the message names it.</exception>
    public static byte[] ReadFile(string path) => WithFile(path, stream =>
    {
        var bytes = new byte[CheckFileSize(stream, path)];
        int read = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
        return read == bytes.Length ? bytes : bytes[..read];
    });

    /// <summary>The file's length, refused past <see cref="ImageDecodeLimit.MaxFileBytes"/>.</summary>
    private static long CheckFileSize(FileStream stream, string path)
    {
        long max = ImageDecodeLimit.Current.MaxFileBytes;
        return stream.Length <= max && stream.Length <= Array.MaxLength
            ? stream.Length
            : throw new InvalidDataException($"Image '{path}' is {stream.Length:N0} bytes, more than an image within the decode limit takes ({Math.Min(max, Array.MaxLength):N0}: 8 bytes a pixel of ImageDecodeLimit.Current.MaxPixels); it was not read.");
    }

    /// <summary>Opens a regular, non-empty file and runs <paramref name="read"/> on it; I/O errors name the file.</summary>
    private static T WithFile<T>(string path, Func<FileStream, T> read)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new InvalidDataException("An image path is empty.");
        }

        try
        {
            // A FIFO, socket or device reports a length of 0, like an empty file: neither is opened (opening a FIFO
            // waits for a writer forever), and the codec reads a regular file as it needs it.
            // A link is judged by what it finally points to (a link to a FIFO or to /dev/zero is refused like one).
            var file = new FileInfo(path);
            if (file.LinkTarget is not null)
            {
                file = file.ResolveLinkTarget(returnFinalTarget: true) as FileInfo
                    ?? throw new InvalidDataException($"Image '{path}' is a link to '{file.LinkTarget}', which is not a file.");
            }

            if (!file.Exists && Directory.Exists(file.FullName))
            {
                throw new InvalidDataException($"Image '{path}' cannot be read: it is a folder, not an image file.");
            }

            if (!file.Exists && FolderWalk.NameIsNotUtf8(path))
            {
                throw new InvalidDataException($"Image '{path}' cannot be read: its name is not valid UTF-8 (the bad bytes show as \uFFFD), so it cannot be opened by that name; rename it to UTF-8.");
            }

            if (!file.Exists)
            {
                throw new InvalidDataException($"Image '{path}' cannot be read: it does not exist{Where(path, file)}.");
            }

            if (file.Length == 0)
            {
                throw new InvalidDataException($"Image '{path}' is empty (0 bytes) or not a regular file (a FIFO, socket or device); it was not opened.");
            }

            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            return read(stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"Image '{path}' cannot be read: {e.Message}", e);
        }
    }

    /// <summary>
    /// Where a missing image was looked for: a link's target, or for a relative path the current directory it was read
    /// from (a CSV's paths are often relative to the CSV's folder, which ML.NET's image loaders take as <c>imageFolder</c>).
    /// </summary>
    private static string Where(string path, FileInfo file) =>
        file.FullName != Path.GetFullPath(path) ? $" (it is a link to '{file.FullName}')"
        : !Path.IsPathRooted(path) ? $" (a relative path is read from the current directory, '{Environment.CurrentDirectory}', as '{file.FullName}'; give full paths, or load the images first with mlContext.Transforms.LoadRawImageBytes or LoadImages and their imageFolder)"
        : string.Empty;

    /// <summary>Decodes encoded image bytes; <paramref name="what"/> names them in the error.</summary>
    /// <exception cref="InvalidDataException">The bytes are empty, over the decode limit, truncated or not a decodable image.</exception>
    public static MLImage DecodeBytes(byte[]? bytes, string what)
    {
        if (bytes is null || bytes.Length == 0)
        {
            throw new InvalidDataException($"The {what} is empty (0 bytes).");
        }

        return Decode(bytes, $"{what} ({bytes.Length} bytes)");
    }

    /// <summary>Reads the header, checks the size, then decodes into the BGRA layout <see cref="MLImage"/> holds.</summary>
    /// <remarks>
    /// The codec reads from native memory (<see cref="SKData"/>), never through a managed stream: SkiaSharp's managed
    /// stream callback throws an <see cref="OverflowException"/> inside native code for a skip past 2 GB (a BMP whose
    /// pixel offset is 0xB7000036, 3.6 KB in all), which no handler can catch and which ended the process.
    /// </remarks>
    private static MLImage Decode(byte[] bytes, string what)
    {
        if (!EncodedHeader.IsReadFormat(bytes))
        {
            throw new InvalidDataException($"The {what} is not a decodable image: it does not begin as a {ReadFormats} file does (its first bytes: {Convert.ToHexString(bytes.AsSpan(0, Math.Min(8, bytes.Length)))}).");
        }

        var file = EncodedHeader.WithoutLargePngChunks(bytes, what) ?? bytes;
        using var data = SKData.CreateCopy(file);
        using var native = new SKMemoryStream(data);
        using var codec = SKCodec.Create(native, out var opened);
        if (codec is null)
        {
            // IncompleteInput here is about the header (a PNG declaring width 0 gets it too), not about truncated pixel data.
            string why = opened == SKCodecResult.IncompleteInput ? ": its header is cut short or invalid" : string.Empty;
            throw new InvalidDataException($"The {what} is not a decodable image{why} ({ReadFormats} expected; SkiaSharp: {opened}).");
        }

        var header = codec.Info;
        if (header.Width <= 0 || header.Height <= 0)
        {
            throw new InvalidDataException($"The {what} declares an empty {header.Width} x {header.Height} image.");
        }

        if (!DocumentedFormats.Contains(codec.EncodedFormat))
        {
            throw new InvalidDataException($"The {what} is in the {codec.EncodedFormat} format, not one of the formats this library reads ({ReadFormats}, as the folder loader takes them).");
        }

        var (extra, decoder) = EncodedHeader.ExtraBytesPerPixel(file);
        ImageDecodeLimit.Current.Check(header.Width, header.Height, what, extra, decoder);

        // What MLImage.CreateFromStream (SKBitmap.Decode) produces, in one step: premultiplied, no colour-space
        // conversion, BGRA (MLImage converts any other colour type to it).
        var info = new SKImageInfo(header.Width, header.Height, SKColorType.Bgra8888, header.AlphaType == SKAlphaType.Unpremul ? SKAlphaType.Premul : header.AlphaType);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
        {
            string image = $"a {header.Width} x {header.Height} {codec.EncodedFormat}";
            throw new InvalidDataException(result == SKCodecResult.IncompleteInput
                ? $"The {what} is truncated: {image} whose data ends before the last row."
                : $"The {what} does not decode: {image} (SkiaSharp: {result}).");
        }

        return MLImage.CreateFromPixels(info.Width, info.Height, MLPixelFormat.Bgra32, bitmap.GetPixelSpan());
    }
}
