using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Weights;

/// <summary>
/// What the readers of weights and checkpoint files share: every malformed file becomes one
/// <see cref="InvalidDataException"/> that names it, and tensor data goes from the file straight into the
/// tensor's memory (no byte array, no <see cref="MemoryStream"/> that doubles as it grows).
/// </summary>
internal static class UntrustedFile
{
    /// <summary>
    /// The exceptions parsing code raises on bad bytes (a cast that fails, an index past the end, an arithmetic
    /// overflow, a zip or JSON error): all mean "malformed file", never a bug in the caller.
    /// </summary>
    public static bool IsMalformed(Exception e) =>
        e is InvalidDataException or IOException or ArgumentException or InvalidOperationException or InvalidCastException
            or IndexOutOfRangeException or KeyNotFoundException or OverflowException or NullReferenceException or NotSupportedException or FormatException;

    /// <summary>One <see cref="InvalidDataException"/> naming <paramref name="path"/>, whatever <paramref name="e"/> was.</summary>
    public static InvalidDataException Error(string path, string what, Exception e) =>
        e is InvalidDataException && e.Message.Contains(path, StringComparison.Ordinal)
            ? (InvalidDataException)e
            : new InvalidDataException($"'{path}' is not a {what}: {e.Message}", e);

    /// <summary>Bytes of <paramref name="elements"/> values of <paramref name="type"/>; an overflow is malformed input.</summary>
    /// <exception cref="InvalidDataException">The count is negative or the size overflows a long.</exception>
    public static long ByteCount(long elements, ScalarType type)
    {
        if (elements < 0)
        {
            throw new InvalidDataException($"a tensor of {elements} elements");
        }

        try
        {
            return checked(elements * ElementSize(type));
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"{elements} elements of {type} overflow a 64-bit byte count");
        }
    }

    /// <summary>Bytes per element of <paramref name="type"/>.</summary>
    public static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };

    /// <summary>Reads exactly the bytes of <paramref name="tensor"/> (new, contiguous, on the CPU) from <paramref name="source"/>, in chunks of at most 64 MB.</summary>
    /// <exception cref="InvalidDataException">The stream ends first.</exception>
    public static void Fill(Tensor tensor, Stream source)
    {
        const long ChunkBytes = 64L << 20;
        using var flat = tensor.view(-1);
        long elements = flat.shape[0];
        long chunk = Math.Max(1, ChunkBytes / ElementSize(tensor.dtype));
        for (long start = 0; start < elements; start += chunk)
        {
            using var part = flat.narrow(0, start, Math.Min(chunk, elements - start));
            try
            {
                source.ReadExactly(part.bytes);
            }
            catch (EndOfStreamException)
            {
                throw new InvalidDataException($"the data ends within the {ByteCount(elements, tensor.dtype)} bytes of a [{string.Join(", ", tensor.shape)}] {tensor.dtype} tensor");
            }
        }
    }
}
