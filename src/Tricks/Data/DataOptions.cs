namespace MLNetCnn.Tricks.Data;

/// <summary>Where the training images are kept while a model trains.</summary>
public enum DataMode
{
    /// <summary>In memory when the stored images fit <see cref="DataOptions.MemoryBudgetBytes"/>, streamed otherwise.</summary>
    Auto,

    /// <summary>Every image in memory (uint8 where the pixels are 0..255 integers, else float32), whatever the size.</summary>
    InMemory,

    /// <summary>
    /// Images produced on demand: image files are decoded and resized in parallel ahead of the step that
    /// needs them; columns that cannot be read in a random order are written once to a file on disk.
    /// </summary>
    Streaming,
}

/// <summary>
/// How training data is held and read: in memory or streamed, how many threads decode, how many batches
/// are prepared ahead, the optional on-disk cache of decoded images, and what an unreadable image does.
/// The choice never changes the result: a streaming run and an in-memory run of the same data see the
/// same batches in the same order and train to identical weights.
/// </summary>
public sealed record DataOptions
{
    /// <summary>2 GiB: 14,000 RGB images at 224 x 224 in uint8.</summary>
    public const long DefaultMemoryBudgetBytes = 2L << 30;

    /// <summary>In memory, streaming, or chosen by size.</summary>
    public DataMode Mode { get; init; } = DataMode.Auto;

    /// <summary>With <see cref="DataMode.Auto"/>: the most bytes of stored images kept in memory (1 byte per value for 0..255 integers, 4 otherwise).</summary>
    public long MemoryBudgetBytes { get; init; } = DefaultMemoryBudgetBytes;

    /// <summary>Threads that decode and resize images in parallel (default: all cores but one, at least 1).</summary>
    public int DecodeParallelism { get; init; } = Math.Max(1, Environment.ProcessorCount - 1);

    /// <summary>Batches prepared ahead of the training step (a bounded queue: memory is at most this many batches more).</summary>
    public int PrefetchBatches { get; init; } = 4;

    /// <summary>
    /// When streaming image files, keep every decoded, resized image (uint8) in a temporary file under
    /// <see cref="CacheDirectory"/>, so that epochs after the first read it instead of decoding again.
    /// The file takes N x C x H x W bytes of disk and is deleted when the source is disposed.
    /// </summary>
    public bool CacheDecodedImages { get; init; }

    /// <summary>
    /// Folder for the image cache and for streamed columns that must be written to disk first (null: the
    /// system temp folder). Use a disk, not a RAM-backed file system such as tmpfs.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>
    /// An image that stops decoding after it was read in this run (its file deleted, truncated or
    /// overwritten while training runs) fails training with its path; when false (the default) it is
    /// skipped, counted in <see cref="Training.EpochMetrics.SkippedImages"/> and named in the log. An
    /// image that never decoded is bad input and fails training either way, naming it (use
    /// <c>ImageFolder.Load(..., skipUnreadable: true)</c> to leave such files out up front).
    /// </summary>
    public bool Strict { get; init; }

    /// <summary>Whether a source whose stored images take <paramref name="bytes"/> is kept in memory under this mode and budget.</summary>
    public bool KeepsInMemory(long bytes) => Mode switch
    {
        DataMode.InMemory => true,
        DataMode.Streaming => false,
        _ => bytes <= MemoryBudgetBytes,
    };

    /// <summary>The folder for files on disk: <see cref="CacheDirectory"/>, or the system temp folder.</summary>
    public string FileDirectory => CacheDirectory ?? Path.GetTempPath();

    /// <summary>Throws when a value is out of range.</summary>
    public DataOptions Validate()
    {
        if (!Enum.IsDefined(Mode))
        {
            throw new ArgumentOutOfRangeException(nameof(Mode), Mode, "Unknown data mode.");
        }

        if (MemoryBudgetBytes < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MemoryBudgetBytes), MemoryBudgetBytes, "The memory budget must be non-negative.");
        }

        if (DecodeParallelism < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(DecodeParallelism), DecodeParallelism, "Decode parallelism must be at least 1.");
        }

        if (PrefetchBatches < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(PrefetchBatches), PrefetchBatches, "At least 1 batch must be prepared ahead.");
        }

        return this;
    }
}
