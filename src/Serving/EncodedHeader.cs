using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace MLNetCnn.Serving;

/// <summary>
/// What the bytes of an encoded image say about their decoding cost before SkiaSharp reads them: PNG chunks that
/// only waste time, and formats whose decoder holds a second full-size buffer.
/// </summary>
internal static class EncodedHeader
{
    /// <summary>
    /// The largest ancillary PNG chunk (text, colour profile, EXIF, an unknown chunk) kept for the decoder. SkiaSharp's
    /// PNG decoder holds every chunk but IDAT whole before reading it, copying what it has again as each block of the file
    /// arrives, so it spends time on the square of a chunk's size: 0.27 s for 1 MB, 8.9 s for 8 MB and 152 s for 32 MB,
    /// and one small file could hold a service for hours. Real ones are a few kilobytes (an ICC profile, EXIF within
    /// 64 KB, XMP text), and none changes the pixels this library decodes (no colour-space conversion, no EXIF
    /// orientation), so a larger one is dropped before decoding. The transparency chunk tRNS, which does change them,
    /// holds at most 256 entries.
    /// </summary>
    public const int MaxAncillaryChunkBytes = 64 * 1024;

    /// <summary>
    /// The largest critical PNG chunk other than IDAT (whose data the decoder reads as it comes): IHDR holds 13 bytes,
    /// PLTE at most 768 (256 colours), IEND none, and the decoder refuses any other critical chunk, after holding it as
    /// it holds a large ancillary one (8 to 10 s for 4 MB, found by an outside sweep). A file with a larger one is
    /// refused unread.
    /// </summary>
    public const int MaxCriticalChunkBytes = 768;

    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private static ReadOnlySpan<byte> JpegStart => [0xFF, 0xD8, 0xFF];

    /// <summary>
    /// <paramref name="file"/> without its ancillary PNG chunks larger than <see cref="MaxAncillaryChunkBytes"/>; null when
    /// it is no PNG or has none. A chunk whose length runs past the end of the file counts as the length it declares (the
    /// decoder would hold the rest of the file as that chunk): one over its bound, ancillary or critical, is dropped with
    /// the rest, and the decoder finds the file ending there (cut short, or complete when the rows came before it, as a
    /// file with junk after its image data decoded before).
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// A complete critical chunk other than IDAT declares more than <see cref="MaxCriticalChunkBytes"/>; <paramref name="what"/>
    /// names the file in the message.
    /// </exception>
    public static byte[]? WithoutLargePngChunks(ReadOnlySpan<byte> file, string what)
    {
        if (!file.StartsWith(PngSignature))
        {
            return null;
        }

        List<Range>? dropped = null;
        int at = PngSignature.Length;
        while (at + 8 <= file.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(file[at..]);
            var type = file.Slice(at + 4, 4);
            int end = length > file.Length - at - 12L ? file.Length : at + 12 + (int)length;
            bool ancillary = (type[0] & 0x20) != 0; // a lower-case first letter (PNG specification, 5.4)
            long largest = type.SequenceEqual("IDAT"u8) ? uint.MaxValue : ancillary ? MaxAncillaryChunkBytes : MaxCriticalChunkBytes;
            if (length > largest && (ancillary || end == file.Length))
            {
                (dropped ??= []).Add(at..end);
            }
            else if (length > largest)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"The {what} is not a decodable image: its PNG chunk '{ChunkName(type)}' at byte {at:N0} declares {length:N0} bytes, more than any critical chunk but IDAT holds ({MaxCriticalChunkBytes} bytes, a palette of 256 colours); it was not decoded."));
            }

            if (end == file.Length || type.SequenceEqual("IEND"u8))
            {
                break;
            }

            at = end;
        }

        if (dropped is null)
        {
            return null;
        }

        var kept = new byte[file.Length - dropped.Sum(r => r.End.Value - r.Start.Value)];
        int from = 0, to = 0;
        foreach (var range in dropped.Append(file.Length..file.Length))
        {
            file[from..range.Start.Value].CopyTo(kept.AsSpan(to));
            to += range.Start.Value - from;
            from = range.End.Value;
        }

        return kept;
    }

    /// <summary>A chunk's type as the PNG specification writes it (four letters), or in hexadecimal when it is not letters.</summary>
    private static string ChunkName(ReadOnlySpan<byte> type)
    {
        foreach (byte b in type)
        {
            if (!char.IsAsciiLetter((char)b))
            {
                return "0x" + Convert.ToHexString(type);
            }
        }

        return Encoding.ASCII.GetString(type);
    }

    /// <summary>
    /// Bytes a pixel the decoder holds beyond the 8 that <see cref="ImageDecodeLimit"/> counts (the BGRA bitmap and its
    /// <c>MLImage</c> copy), and why: an interlaced PNG is reassembled in a whole image of its own samples (8 bytes a
    /// pixel for 16-bit RGBA: an outside test measured 660 MB against 348 MB for the same image not interlaced), a
    /// progressive JPEG keeps every DCT coefficient (2 bytes per component, 528-599 MB measured at 36 megapixels).
    /// </summary>
    public static (int Bytes, string? Why) ExtraBytesPerPixel(ReadOnlySpan<byte> file)
    {
        if (file.StartsWith(PngSignature) && file.Length >= 29 && file.Slice(12, 4).SequenceEqual("IHDR"u8) && file[28] == 1)
        {
            int samples = file[25] switch { 2 => 3, 4 => 2, 6 => 4, _ => 1 }; // colour types: RGB, grey + alpha, RGBA; grey or palette
            int bytes = samples * (file[24] == 16 ? 2 : 1);
            return (bytes, $"an interlaced PNG, whose decoder holds {bytes} more bytes a pixel");
        }

        if (file.Length >= 3 && file[0] == 0xFF && file[1] == 0xD8)
        {
            var (components, found) = ProgressiveJpegComponents(file);
            if (components > 0)
            {
                return (2 * components, found
                    ? $"a progressive JPEG, whose decoder holds {2 * components} more bytes a pixel"
                    : $"a JPEG whose frame header was not found before its image data, counted as a progressive one of {components} components ({2 * components} more bytes a pixel)");
            }
        }

        return (0, null);
    }

    /// <summary>
    /// The first bytes of each format the library reads (<see cref="ImageDecoding.Extensions"/>): JPEG, PNG, BMP, GIF and
    /// WebP. Checked before SkiaSharp opens a file, as opening is not free: SkiaSharp's ICO reader loads every entry of
    /// the directory in <c>SKCodec.Create</c> (an ICO of 65,535 entries took 210 MB before it could be refused).
    /// </summary>
    public static bool IsReadFormat(ReadOnlySpan<byte> file) =>
        file.StartsWith(JpegStart) || file.StartsWith(PngSignature) || file.StartsWith("BM"u8)
        || file.StartsWith("GIF87a"u8) || file.StartsWith("GIF89a"u8)
        || (file.Length >= 12 && file.StartsWith("RIFF"u8) && file.Slice(8, 4).SequenceEqual("WEBP"u8));

    /// <summary>
    /// The component count of a JPEG's frame when it is progressive (SOF2, SOF6, SOF10 or SOF14), 0 when it is not, and
    /// whether the frame header was found. The markers are walked as libjpeg reads them: bytes between markers and fill
    /// bytes are skipped, and markers without a length (TEM, RST0-7) take two bytes; a reviewer hid a progressive frame
    /// with one FF 01 that a walk reading every marker's length stepped over. When no frame header comes before the
    /// image data (or the walk breaks), the worst case is assumed: progressive, four components.
    /// </summary>
    private static (int Components, bool Found) ProgressiveJpegComponents(ReadOnlySpan<byte> file)
    {
        const int worst = 4;
        int at = 2;
        while (at + 1 < file.Length)
        {
            byte marker = file[at + 1];
            if (file[at] != 0xFF || marker == 0xFF)
            {
                at++; // a stray byte, or a fill byte before a marker
                continue;
            }

            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                at += 2;
                continue;
            }

            if (marker is 0xD9 or 0xDA || at + 4 > file.Length)
            {
                break; // the end of the image or its data before any frame header
            }

            int length = BinaryPrimitives.ReadUInt16BigEndian(file[(at + 2)..]);
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                bool progressive = marker is 0xC2 or 0xC6 or 0xCA or 0xCE;
                return !progressive ? (0, true) : at + 9 < file.Length ? (file[at + 9], true) : (worst, false);
            }

            if (length < 2)
            {
                break;
            }

            at += 2 + length;
        }

        return (worst, false);
    }
}
