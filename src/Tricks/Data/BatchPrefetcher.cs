using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using MLNetCnn.Architectures.Models;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Data;

/// <summary>An image left out of a batch because it could not be read.</summary>
/// <param name="Row">Row in the source.</param>
/// <param name="Reason">Why (the source's message, naming the file).</param>
internal readonly record struct SkippedImage(int Row, string Reason);

/// <summary>
/// The rows of a source read at least once in a run. An image that fails after it was read (its file
/// changed while training runs) may be skipped; one that never read is bad input, an error as everywhere
/// else in the library (<c>ImageFolder.Load</c>, the decode limit, scoring).
/// </summary>
internal sealed class RowsRead(int count)
{
    private readonly byte[] _read = new byte[count];

    public bool Contains(int row) => Volatile.Read(ref _read[row]) != 0;

    public void Add(int row) => Volatile.Write(ref _read[row], 1);
}

/// <summary>
/// One mini-batch as plain arrays, ready to wrap as tensors without copying: uint8 or float32 pixels
/// (<see cref="Pixels"/> is a byte[] or a float[]), the rows it holds, and the rows left out. Disposing
/// it (after every tensor made from it is disposed) hands its pixel array back for a later batch, so
/// memory stays a few batches however many images stream by.
/// </summary>
internal sealed class Batch(Array pixels, long[] labels, int count, float[]? teacherLogits, int[] rows, IReadOnlyList<SkippedImage> skipped, Action<Array>? recycle) : IDisposable
{
    private Action<Array>? _recycle = recycle;

    public Array Pixels { get; } = pixels;

    public long[] Labels { get; } = labels;

    public int Count { get; } = count;

    public float[]? TeacherLogits { get; } = teacherLogits;

    /// <summary>The source rows of the images, in batch order.</summary>
    public int[] Rows { get; } = rows;

    /// <summary>Rows of this batch that could not be read and were left out.</summary>
    public IReadOnlyList<SkippedImage> Skipped { get; } = skipped;

    /// <summary>The images as a float32 tensor [Count, C, H, W] on <paramref name="device"/> (uint8 pixels travel as uint8 and are converted there).</summary>
    public Tensor Images(ImageShape shape, Device device) => Pixels is byte[] bytes
        ? from_array(bytes).reshape(Count, shape.Channels, shape.Height, shape.Width).to(device).to(ScalarType.Float32)
        : from_array((float[])Pixels).reshape(Count, shape.Channels, shape.Height, shape.Width).to(device);

    public void Dispose()
    {
        Interlocked.Exchange(ref _recycle, null)?.Invoke(Pixels);
    }
}

/// <summary>
/// Prepares the batches of an order of rows on a background thread, reading the rows of each batch on up
/// to <see cref="IImageSource.ReadParallelism"/> threads, into a bounded queue, so the model never waits
/// for data and memory holds at most a few batches. An image that cannot be read ends the sequence with
/// its exception, unless <c>skippable</c> holds its row (it was read before): then it is left out and
/// reported with its batch. Every row read is added to <c>skippable</c>. An exception of the
/// source reaches the consumer where the batch would have been; disposing stops the threads.
/// </summary>
internal sealed class BatchPrefetcher : IDisposable
{
    private readonly BlockingCollection<Batch> _queue;
    private readonly CancellationTokenSource _cancel;
    private readonly Task _producer;
    private readonly ConcurrentBag<Array> _recycled = new();
    private volatile ExceptionDispatchInfo? _error;

    public BatchPrefetcher(IImageSource source, int[] order, int batchSize, int capacity, RowsRead? skippable, CancellationToken cancellationToken = default)
    {
        _queue = new BlockingCollection<Batch>(capacity);
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = _cancel.Token;
        _producer = Task.Factory.StartNew(() => Produce(source, order, batchSize, skippable, token), token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>The batches in order; throws the source's exception at the batch where it happened, or <see cref="OperationCanceledException"/> once cancelled.</summary>
    public IEnumerable<Batch> Batches
    {
        get
        {
            foreach (var batch in _queue.GetConsumingEnumerable(_cancel.Token))
            {
                yield return batch;
            }

            // A cancel that stops the producer between batches completes the queue: the batches then ended as if the
            // pass were done, and a validation pass cancelled that way read as one whose every image was unreadable.
            _cancel.Token.ThrowIfCancellationRequested();
            _error?.Throw();
        }
    }

    public void Dispose()
    {
        _cancel.Cancel();
        try
        {
            _producer.Wait();
        }
        catch (AggregateException e) when (e.InnerExceptions.All(x => x is OperationCanceledException))
        {
        }

        _queue.Dispose();
        _cancel.Dispose();
    }

    private Batch Read(IImageSource source, int[] rows, int batchSize, RowsRead? skippable, CancellationToken token)
    {
        int count = rows.Length;
        int size = source.Shape.Size;
        bool full = count == batchSize;
        Array pixels = full && _recycled.TryTake(out var reused) ? reused
            : source.PixelType == ImagePixelType.Byte ? new byte[count * size] : new float[count * size];
        var errors = new string?[count];
        void ReadRow(int i)
        {
            try
            {
                source.ReadImage(rows[i], RowBytes(pixels, i, size));
                skippable?.Add(rows[i]);
            }
            catch (InvalidDataException e) when (skippable is not null && skippable.Contains(rows[i]))
            {
                errors[i] = e.Message;
            }
        }

        if (source.ReadParallelism > 1 && count > 1)
        {
            try
            {
                Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = source.ReadParallelism, CancellationToken = token }, ReadRow);
            }
            catch (AggregateException e)
            {
                ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            }
        }
        else
        {
            for (int i = 0; i < count; i++)
            {
                token.ThrowIfCancellationRequested();
                ReadRow(i);
            }
        }

        var skipped = new List<SkippedImage>();
        for (int i = 0; i < count; i++)
        {
            if (errors[i] is { } reason)
            {
                skipped.Add(new SkippedImage(rows[i], reason));
            }
        }

        if (skipped.Count > 0)
        {
            var whole = pixels;
            (pixels, rows) = Compact(pixels, rows, errors, size);
            count = rows.Length;
            if (full)
            {
                _recycled.Add(whole);
            }

            full = false;
        }

        var labels = new long[count];
        int k = source.NumClasses;
        var teacher = source.TeacherLogits is null ? null : new float[count * k];
        for (int i = 0; i < count; i++)
        {
            labels[i] = source.Labels[rows[i]];
            if (teacher is not null)
            {
                Array.Copy(source.TeacherLogits!, (long)rows[i] * k, teacher, (long)i * k, k);
            }
        }

        return new Batch(pixels, labels, count, teacher, rows, skipped, full ? _recycled.Add : null);
    }

    /// <summary>The rows that were read, in a right-sized array (a tensor wraps the whole array).</summary>
    private static (Array Pixels, int[] Rows) Compact(Array pixels, int[] rows, string?[] errors, int size)
    {
        var kept = Enumerable.Range(0, rows.Length).Where(i => errors[i] is null).ToArray();
        Array compact = pixels is byte[] ? new byte[kept.Length * size] : new float[kept.Length * size];
        for (int j = 0; j < kept.Length; j++)
        {
            RowBytes(pixels, kept[j], size).CopyTo(RowBytes(compact, j, size));
        }

        return (compact, kept.Select(i => rows[i]).ToArray());
    }

    private static Span<byte> RowBytes(Array pixels, int index, int size) => pixels is byte[] bytes
        ? bytes.AsSpan(index * size, size)
        : MemoryMarshal.AsBytes(((float[])pixels).AsSpan(index * size, size));

    private void Produce(IImageSource source, int[] order, int batchSize, RowsRead? skippable, CancellationToken token)
    {
        try
        {
            for (int start = 0; start < order.Length; start += batchSize)
            {
                token.ThrowIfCancellationRequested();
                var rows = order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray();
                _queue.Add(Read(source, rows, batchSize, skippable, token), token);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _error = ExceptionDispatchInfo.Capture(e);
        }
        finally
        {
            _queue.CompleteAdding();
        }
    }
}
