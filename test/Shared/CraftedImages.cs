using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace MLNetCnn.TestSupport;

/// <summary>
/// Hostile image files for tests, written byte by byte: a PNG whose header declares any size while its data
/// holds only a few rows (the decompression bomb of issue 11: a hundred bytes that ask for gigabytes), and a
/// valid PNG cut short. Linked into the test projects that need them.
/// </summary>
internal static class CraftedImages
{
    private static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];

    /// <summary>A grey 8-bit PNG declaring <paramref name="width"/> x <paramref name="height"/> with <paramref name="rows"/> rows of data (all of them: a complete file).</summary>
    public static byte[] Png(int width, int height, int rows = 1)
    {
        using var file = new MemoryStream();
        file.Write(Signature);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth; colour type 0 (grey), deflate, no filter, no interlace
        Chunk(file, "IHDR", header);
        using (var compressed = new MemoryStream())
        {
            using (var deflate = new ZLibStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
            {
                var row = new byte[1 + width];
                for (int y = 0; y < rows; y++)
                {
                    for (int x = 1; x < row.Length; x++)
                    {
                        row[x] = (byte)((x * 7) + (y * 13));
                    }

                    deflate.Write(row);
                }
            }

            Chunk(file, "IDAT", compressed.ToArray());
        }

        if (rows == height)
        {
            Chunk(file, "IEND", []);
        }

        return file.ToArray();
    }

    /// <summary>A complete <paramref name="size"/> x <paramref name="size"/> PNG with its second half cut off.</summary>
    public static byte[] TruncatedPng(int size = 32)
    {
        var png = Png(size, size, rows: size);
        return png[..(png.Length / 2)];
    }

    /// <summary>
    /// A complete 40 x 30 24-bit BMP (3,654 bytes) whose header puts the pixel data at <paramref name="pixelOffset"/>:
    /// at 0x80000000 and beyond, SkiaSharp's managed-stream callback overflowed inside native code and ended the process.
    /// </summary>
    public static byte[] Bmp(uint pixelOffset = 54)
    {
        const int width = 40, height = 30, rowBytes = width * 3;
        var bmp = new byte[54 + (rowBytes * height)];
        bmp[0] = (byte)'B';
        bmp[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), bmp.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(bmp.AsSpan(10), pixelOffset);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(34), rowBytes * height);
        for (int i = 54; i < bmp.Length; i++)
        {
            bmp[i] = (byte)(i * 7);
        }

        return bmp;
    }

    /// <summary><paramref name="png"/> with a chunk of <paramref name="type"/> and <paramref name="size"/> bytes inserted after its header (IHDR).</summary>
    public static byte[] WithChunk(byte[] png, string type, int size)
    {
        const int afterHeader = 8 + 12 + 13;
        using var file = new MemoryStream();
        file.Write(png.AsSpan(0, afterHeader));
        var data = new byte[size];
        for (int i = 0; i < size; i++)
        {
            data[i] = (byte)(' ' + (i % 90));
        }

        Chunk(file, type, data);
        file.Write(png.AsSpan(afterHeader));
        return file.ToArray();
    }

    /// <summary>A PNG declaring <paramref name="width"/> x <paramref name="height"/> of the given bit depth, colour type and interlace, with one row of zeros as its data.</summary>
    public static byte[] PngHeader(int width, int height, byte bitDepth, byte colourType, bool interlaced)
    {
        using var file = new MemoryStream();
        file.Write(Signature);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        (header[8], header[9], header[12]) = (bitDepth, colourType, interlaced ? (byte)1 : (byte)0);
        Chunk(file, "IHDR", header);
        using (var compressed = new MemoryStream())
        {
            using (var deflate = new ZLibStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
            {
                deflate.Write(new byte[1 + (width * 8)]);
            }

            Chunk(file, "IDAT", compressed.ToArray());
        }

        Chunk(file, "IEND", []);
        return file.ToArray();
    }

    private static void Chunk(Stream file, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        file.Write(word);
        byte[] typeAndData = [.. Encoding.ASCII.GetBytes(type), .. data];
        file.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typeAndData));
        file.Write(word);
    }

    private static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
            }
        }

        return ~crc;
    }
}
