using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MLNetCnn.Tricks.Data;

/// <summary>Fixed-size rows of raw pixel bytes, addressed by row; offsets are 64-bit, so a store may exceed 2 GB.</summary>
internal abstract class PixelStore : IDisposable
{
    protected PixelStore(int rowBytes) => RowBytes = rowBytes;

    /// <summary>Bytes of one row.</summary>
    public int RowBytes { get; }

    /// <summary>Whether the rows live in a file rather than in managed memory.</summary>
    public abstract bool OnDisk { get; }

    public abstract void Read(int row, Span<byte> destination);

    public abstract void Write(int row, ReadOnlySpan<byte> source);

    public virtual void Dispose()
    {
    }
}

/// <summary>
/// Rows in managed arrays: one caller's array wrapped without a copy, or chunks of at most 1 GiB
/// (a single .NET array holds at most about 2^31 elements, far less than a large image set).
/// </summary>
internal sealed class MemoryPixelStore : PixelStore
{
    private const int ChunkBytes = 1 << 30;
    private readonly Array[] _chunks;
    private readonly int _rowsPerChunk;
    private readonly int _valuesPerRow;

    private MemoryPixelStore(Array[] chunks, int rowsPerChunk, int valuesPerRow, int rowBytes)
        : base(rowBytes)
    {
        _chunks = chunks;
        _rowsPerChunk = rowsPerChunk;
        _valuesPerRow = valuesPerRow;
    }

    public override bool OnDisk => false;

    /// <summary>Wraps <paramref name="values"/> (a byte[] or float[] of whole rows) without copying it.</summary>
    public static MemoryPixelStore Wrap(Array values, int valuesPerRow, int rowBytes) =>
        new(new[] { values }, int.MaxValue, valuesPerRow, rowBytes);

    /// <summary>Zeroed rows for <paramref name="count"/> images.</summary>
    public static MemoryPixelStore Allocate(int count, int rowBytes)
    {
        int rowsPerChunk = Math.Max(1, ChunkBytes / rowBytes);
        int chunks = (int)(((long)count + rowsPerChunk - 1) / rowsPerChunk);
        var arrays = new Array[chunks];
        for (int c = 0; c < chunks; c++)
        {
            int rows = Math.Min(rowsPerChunk, count - (c * rowsPerChunk));
            arrays[c] = new byte[(long)rows * rowBytes];
        }

        return new MemoryPixelStore(arrays, rowsPerChunk, rowBytes, rowBytes);
    }

    public override void Read(int row, Span<byte> destination) => Row(row).CopyTo(destination);

    public override void Write(int row, ReadOnlySpan<byte> source) => source.CopyTo(Row(row));

    private Span<byte> Row(int row)
    {
        var chunk = _chunks[row / _rowsPerChunk];
        int start = (row % _rowsPerChunk) * _valuesPerRow; // within one array, so within int
        return chunk is float[] floats ? MemoryMarshal.AsBytes(floats.AsSpan(start, _valuesPerRow)) : ((byte[])chunk).AsSpan(start, _valuesPerRow);
    }
}

/// <summary>What a <see cref="FilePixelStore"/> holds, for the advice of an error about its disk.</summary>
internal enum PixelFileUse
{
    /// <summary>An image column that cannot be read in a random order, written out because it exceeds the memory budget.</summary>
    Column,

    /// <summary>The cache of decoded image files (<see cref="DataOptions.CacheDecodedImages"/>).</summary>
    DecodedImageCache,
}

/// <summary>
/// Rows in a temporary file, read and written with positioned I/O (pread/pwrite). The file is removed
/// from its folder as soon as it is open on Unix (it disappears even if the process dies) and deleted
/// on close elsewhere.
/// </summary>
/// <remarks>
/// Positioned I/O rather than a memory mapping: pages of a long-lived mapping that have been touched
/// count in the process's resident set, so an epoch over a 15 GB cache would show up to 15 GB of RSS
/// on a machine with free memory; and a write through a mapping to a disk that is full raises SIGBUS
/// (a crash), where <c>pwrite</c> returns an error. The kernel's page cache serves repeated reads the same.
/// </remarks>
internal sealed class FilePixelStore : PixelStore
{
    private readonly SafeFileHandle _file;
    private readonly string _advice;

    /// <summary>Creates the file for <paramref name="rows"/> rows, after checking that its folder's disk has room for all of them.</summary>
    /// <exception cref="IOException">The disk of <paramref name="directory"/> has less free space than the rows need; the message gives both.</exception>
    public FilePixelStore(string directory, int rowBytes, int rows, PixelFileUse use)
        : base(rowBytes)
    {
        _advice = use == PixelFileUse.DecodedImageCache
            ? "free disk space there, choose another DataOptions.CacheDirectory, or turn off DataOptions.CacheDecodedImages"
            : "free disk space there, choose another DataOptions.CacheDirectory, or keep the images in memory (a larger DataOptions.MemoryBudgetBytes, or DataMode.InMemory) if they fit";
        Directory.CreateDirectory(directory);

        // A 300,000-image column filled the disk before failing; the size is known now, so a disk without room fails at once.
        long needed = (long)rows * rowBytes;
        if (FreeSpace(directory) is { } free && free < needed)
        {
            string what = use == PixelFileUse.DecodedImageCache ? "the cache of decoded images" : "the images";
            throw new IOException(FormattableString.Invariant($"Cannot write {what} to a temporary file in '{directory}': {rows:N0} images x {rowBytes:N0} bytes need {needed:N0} bytes ({needed >> 20:N0} MiB) and its disk has {free:N0} bytes ({free >> 20:N0} MiB) free; {_advice}."));
        }

        Path = System.IO.Path.Combine(directory, $"mlnetcnn-images-{Guid.NewGuid():N}.bin");
        _file = File.OpenHandle(Path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
        if (!OperatingSystem.IsWindows())
        {
            File.Delete(Path);
        }
    }

    /// <summary>The free bytes of a folder's disk, or null when they cannot be known (tests replace it).</summary>
    internal static Func<string, long?> FreeSpace { get; set; } = AvailableFreeSpace;

    /// <summary>Where the file was created (already unlinked on Unix).</summary>
    public string Path { get; }

    public override bool OnDisk => true;

    public override void Read(int row, Span<byte> destination)
    {
        long offset = (long)row * RowBytes;
        int done = 0;
        while (done < RowBytes)
        {
            int n = RandomAccess.Read(_file, destination[done..RowBytes], offset + done);
            if (n == 0)
            {
                throw new IOException($"Image file store '{Path}': row {row} was never written (end of file at byte {offset + done}).");
            }

            done += n;
        }
    }

    public override void Write(int row, ReadOnlySpan<byte> source)
    {
        try
        {
            RandomAccess.Write(_file, source[..RowBytes], (long)row * RowBytes);
        }
        catch (IOException e)
        {
            // The disk filled up after the check (another writer), or its free space could not be known.
            throw new IOException($"Cannot write images to '{Path}' ({e.Message}); {_advice}.", e);
        }
    }

    public override void Dispose() => _file.Dispose();

    private static long? AvailableFreeSpace(string directory)
    {
        try
        {
            return new DriveInfo(directory).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
