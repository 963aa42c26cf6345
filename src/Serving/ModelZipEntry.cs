using System.Globalization;
using System.IO.Compression;

namespace MLNetCnn.Serving;

/// <summary>Receives an entry's inflated bytes a chunk at a time; <paramref name="at"/> is the chunk's offset in the entry.</summary>
internal delegate void EntryChunk(ReadOnlySpan<byte> chunk, long at);

/// <summary>
/// Reads the entries of a model zip as hostile input: a zip bomb is refused before it is inflated, an entry is never
/// inflated past the length it declares, and its CRC-32 is compared with the zip's (neither .NET's <c>ZipArchive</c>
/// nor ML.NET compares it; a bit flipped inside a compressed entry often still inflates, to other weights).
/// </summary>
internal static class ModelZipEntry
{
    /// <summary>
    /// The most bytes an entry may declare for each compressed byte. What a saved model holds barely compresses:
    /// float32 weights (the ONNX graph) inflate about 1.1 : 1, ML.NET's Model.key, schema and vocabulary entries 2 to 3 : 1;
    /// deflate's own limit is about 1032 : 1, which only long runs of one byte reach. 100 : 1 leaves a margin of 30 over
    /// the most compressible entry seen and still refuses any bomb that would inflate past 100 times its file size.
    /// </summary>
    public const int MaxInflationRatio = 100;

    /// <summary>An entry that declares at most this many bytes is never refused by the ratio (the text of a long class list compresses better than weights).</summary>
    public const long SmallEntryBytes = 4 * 1024 * 1024;

    /// <summary>Refuses, unread, an entry that declares more bytes than <see cref="MaxInflationRatio"/> allows for its compressed size.</summary>
    public static void CheckDeclaredSize(ZipArchiveEntry entry, long zipLength, string source)
    {
        long compressed = Math.Min(entry.CompressedLength, zipLength); // the compressed length is declared too: no more than the file holds
        if (entry.Length > Math.Max(SmallEntryBytes, compressed * MaxInflationRatio))
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"Model '{source}': entry '{entry.FullName}' declares {entry.Length} bytes from {entry.CompressedLength} compressed, more than {MaxInflationRatio} times as many; a saved model's data barely compresses, so the entry is refused unread as a zip bomb."));
        }
    }

    /// <summary>
    /// Inflates <paramref name="entry"/> once, handing each chunk to <paramref name="read"/>, and checks its length and CRC-32;
    /// the zip layer's errors (a corrupt header, an unknown compression method, data that ends early) name the model and the entry.
    /// </summary>
    public static void Read(ZipArchiveEntry entry, string source, EntryChunk read)
    {
        var buffer = new byte[81920];
        uint crc = Crc32.Start;
        long at = 0;
        try
        {
            using var stream = entry.Open();
            int got;
            while (at <= entry.Length && (got = stream.Read(buffer.AsSpan(0, (int)Math.Min(buffer.Length, entry.Length - at + 1)))) > 0)
            {
                if (at + got <= entry.Length)
                {
                    read(buffer.AsSpan(0, got), at);
                    crc = Crc32.Append(crc, buffer.AsSpan(0, got));
                }

                at += got;
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException)
        {
            throw new InvalidDataException($"Model '{source}': entry '{entry.FullName}' cannot be read, so the zip is damaged: {e.Message}", e);
        }

        if (at > entry.Length)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"Model '{source}': entry '{entry.FullName}' inflates to more than the {entry.Length} bytes it declares, so the zip is damaged."));
        }

        if (at != entry.Length)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"Model '{source}': entry '{entry.FullName}' holds {at} bytes but declares {entry.Length}, so the zip is damaged."));
        }

        if (Crc32.Finish(crc) != entry.Crc32)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"Model '{source}': entry '{entry.FullName}' fails its checksum (CRC-32 {Crc32.Finish(crc):x8}, the zip records {entry.Crc32:x8}), so the zip is damaged."));
        }
    }
}
