using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Image;

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
        output.Image = ImageDecoding.DecodeFile(input.ImagePath);
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
        output.Image = ImageDecoding.DecodeBytes(input.ImageBytes, "image bytes");
    }

    /// <inheritdoc/>
    public override Action<ImageBytesRow, DecodedImageRow> GetMapping() => Map;
}

/// <summary>Decoding with errors that say what was wrong and where.</summary>
public static class ImageDecoding
{
    /// <summary>Intermediate column the decoders read (a copy of the user's image column).</summary>
    public const string SourceColumnName = "mlnetcnn_image_source";

    /// <summary>Intermediate column holding the decoded image.</summary>
    public const string DecodedColumnName = "mlnetcnn_image";

    /// <summary>File extensions the folder loader takes as images (SkiaSharp decodes them).</summary>
    public static readonly IReadOnlySet<string> Extensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp" };

    /// <summary>Decodes an image file.</summary>
    /// <exception cref="InvalidDataException">The file is missing, empty or not a decodable image.</exception>
    public static MLImage DecodeFile(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new InvalidDataException("An image path is empty.");
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"Image '{path}' cannot be read: {e.Message}", e);
        }

        return DecodeBytes(bytes, $"image '{path}'");
    }

    /// <summary>Decodes encoded image bytes; <paramref name="what"/> names them in the error.</summary>
    /// <exception cref="InvalidDataException">The bytes are empty or not a decodable image.</exception>
    public static MLImage DecodeBytes(byte[]? bytes, string what)
    {
        if (bytes is null || bytes.Length == 0)
        {
            throw new InvalidDataException($"The {what} is empty (0 bytes).");
        }

        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            var image = MLImage.CreateFromStream(stream);
            if (image.Width <= 0 || image.Height <= 0)
            {
                image.Dispose();
                throw new InvalidDataException($"The {what} decodes to an empty {image.Width}x{image.Height} image.");
            }

            return image;
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"The {what} ({bytes.Length} bytes) is not a decodable image (jpg, png, bmp, gif or webp expected): {e.Message}", e);
        }
    }
}
