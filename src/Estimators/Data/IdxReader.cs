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
/// <remarks>
/// The header is read and checked first; then exactly the bytes it declares are read, and at most
/// <see cref="TrailingBytesChecked"/> more to report a file that is longer. A small gzip file that inflates to
/// gigabytes (a "gzip bomb") is refused after that much, never inflated whole; memory grows with the data
/// actually found, never with a size the header merely declares.
/// </remarks>
public static class IdxReader
{
    /// <summary>How many bytes past the declared data are read to say how much longer a file is (1 MiB).</summary>
    public const int TrailingBytesChecked = 1 << 20;

    private const int FirstChunk = 1 << 24;

    /// <summary>Reads a file, gzip-compressed or raw.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid unsigned-byte IDX file, or its data is shorter or longer than its header declares; the message names the file and both sizes.</exception>
    public static IdxArray Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"IDX file '{path}' was not found.", path);
        }

        using var stream = File.OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>Reads from a stream (gzip-compressed or raw; it need not be seekable); <paramref name="name"/> names the source in errors.</summary>
    /// <exception cref="InvalidDataException">The data is not a valid unsigned-byte IDX file, or is shorter or longer than its header declares.</exception>
    public static IdxArray Read(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var magic = new byte[2];
        int magicLength = stream.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        using var whole = new PrefixedStream(magic.AsMemory(0, magicLength), stream);
        bool gzip = magicLength == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        using var data = gzip ? new GZipStream(whole, CompressionMode.Decompress) : (Stream)whole;

        var head = new byte[4];
        int found = Fill(data, head, name);
        if (found < 4 || head[0] != 0 || head[1] != 0)
        {
            throw new InvalidDataException($"IDX file '{name}' is corrupt: expected a header starting 0x00 0x00, found {(found < 4 ? $"{found} bytes" : $"0x{head[0]:x2} 0x{head[1]:x2}")}.");
        }

        if (head[2] != 0x08)
        {
            throw new InvalidDataException($"IDX file '{name}' has element type 0x{head[2]:x2}; only unsigned bytes (0x08) are supported.");
        }

        int ndims = head[3];
        var sizes = new byte[4 * ndims];
        found = Fill(data, sizes, name);
        if (ndims < 1 || found < sizes.Length)
        {
            throw new InvalidDataException($"IDX file '{name}' is corrupt: header declares {ndims} dimensions but the file has {4 + found} bytes.");
        }

        var dims = new int[ndims];
        long expected = 1;
        for (int i = 0; i < ndims; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(sizes.AsSpan(4 * i, 4));
            if (dims[i] < 0)
            {
                throw new InvalidDataException($"IDX file '{name}' is corrupt: dimension {i} is {dims[i]}.");
            }

            expected *= dims[i];
            if (expected > Array.MaxLength)
            {
                throw new InvalidDataException($"IDX file '{name}': header declares {string.Join('x', dims[..(i + 1)])}{(i + 1 < ndims ? "x..." : string.Empty)} bytes of data, more than one array holds ({Array.MaxLength}).");
            }
        }

        string declared = $"header declares {string.Join('x', dims)} = {expected} bytes of data";

        var values = ReadDeclared(data, (int)expected, name);
        if (values.Length < expected)
        {
            throw new InvalidDataException($"IDX file '{name}' is corrupt: {declared}, found {values.Length}.");
        }

        int extra = Fill(data, new byte[TrailingBytesChecked + 1], name);
        if (extra > 0)
        {
            string more = extra > TrailingBytesChecked ? $"more than {expected + TrailingBytesChecked} (reading stopped there)" : $"{expected + extra}";
            throw new InvalidDataException($"IDX file '{name}' is corrupt: {declared}, found {more}.");
        }

        return new IdxArray(dims, values);
    }

    /// <summary>Up to <paramref name="expected"/> bytes, in a buffer that grows with what is found (a header can declare 2 GB in a file of 20 bytes).</summary>
    private static byte[] ReadDeclared(Stream data, int expected, string name)
    {
        var buffer = new byte[Math.Min(expected, FirstChunk)];
        int filled = 0;
        while (true)
        {
            filled += Fill(data, buffer.AsSpan(filled), name);
            if (filled < buffer.Length || filled == expected)
            {
                return filled == buffer.Length ? buffer : buffer[..filled];
            }

            Array.Resize(ref buffer, (int)Math.Min(expected, 2L * buffer.Length));
        }
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the data ends; the bytes read.</summary>
    private static int Fill(Stream data, Span<byte> buffer, string name)
    {
        try
        {
            return data.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"IDX file '{name}' is corrupt: gzip data could not be decompressed ({e.Message}).", e);
        }
    }

    /// <summary>The bytes already read to look for the gzip magic, then the rest of the stream (left open).</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : Stream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.IsEmpty)
            {
                return rest.Read(buffer);
            }

            int n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
