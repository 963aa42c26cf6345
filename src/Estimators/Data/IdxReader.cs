using System.Buffers.Binary;
using System.IO.Compression;

namespace MLNetCnn.Estimators.Data;

/// <summary>An IDX file's contents: unsigned bytes with their dimensions (e.g. [N, 28, 28] images or [N] labels).</summary>
/// <param name="Dimensions">Sizes of each dimension, outermost first.</param>
/// <param name="Data">The values, row-major.</param>
public sealed record IdxArray(IReadOnlyList<int> Dimensions, byte[] Data);

/// <summary>
/// Reads the IDX format (LeCun's MNIST format, also Fashion-MNIST): a big-endian header
/// <c>0x00 0x00 type ndims</c>, then ndims 32-bit sizes, then the data. Gzip files are detected by
/// their magic bytes. Only unsigned-byte data (type 0x08) is supported.
/// </summary>
public static class IdxReader
{
    /// <summary>Reads a file, gzip-compressed or raw.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid unsigned-byte IDX file.</exception>
    public static IdxArray Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"IDX file '{path}' was not found.", path);
        }

        using var stream = File.OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>Reads from a stream; <paramref name="name"/> names the source in errors.</summary>
    public static IdxArray Read(Stream stream, string name)
    {
        byte[] raw;
        try
        {
            raw = ReadAll(stream);
            if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
            {
                using var gzip = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
                raw = ReadAll(gzip);
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"IDX file '{name}' is corrupt: gzip data could not be decompressed ({e.Message}).", e);
        }

        if (raw.Length < 4 || raw[0] != 0 || raw[1] != 0)
        {
            throw new InvalidDataException($"IDX file '{name}' is corrupt: expected a header starting 0x00 0x00, found {(raw.Length < 4 ? $"{raw.Length} bytes" : $"0x{raw[0]:x2} 0x{raw[1]:x2}")}.");
        }

        if (raw[2] != 0x08)
        {
            throw new InvalidDataException($"IDX file '{name}' has element type 0x{raw[2]:x2}; only unsigned bytes (0x08) are supported.");
        }

        int ndims = raw[3];
        if (ndims < 1 || raw.Length < 4 + (4 * ndims))
        {
            throw new InvalidDataException($"IDX file '{name}' is corrupt: header declares {ndims} dimensions but the file has {raw.Length} bytes.");
        }

        var dims = new int[ndims];
        long expected = 1;
        for (int i = 0; i < ndims; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(raw.AsSpan(4 + (4 * i), 4));
            if (dims[i] < 0)
            {
                throw new InvalidDataException($"IDX file '{name}' is corrupt: dimension {i} is {dims[i]}.");
            }

            expected *= dims[i];
        }

        int offset = 4 + (4 * ndims);
        if (raw.Length - offset != expected)
        {
            throw new InvalidDataException($"IDX file '{name}' is corrupt: header declares {string.Join('x', dims)} = {expected} bytes of data, found {raw.Length - offset}.");
        }

        return new IdxArray(dims, raw.AsSpan(offset).ToArray());
    }

    private static byte[] ReadAll(Stream stream)
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
