using System.Collections.Concurrent;

namespace MLNetCnn.Tricks.Training;

/// <summary>One mini-batch as plain arrays, ready to wrap as tensors without copying.</summary>
internal sealed record Batch(float[] Pixels, long[] Labels, int Count, float[]? TeacherLogits);

/// <summary>
/// Prepares batches on a background thread (gathering rows in a shuffled order) into a bounded
/// queue, so the model never waits for data.
/// </summary>
internal sealed class BatchPrefetcher : IDisposable
{
    private readonly BlockingCollection<Batch> _queue;
    private readonly CancellationTokenSource _cancel = new();
    private readonly Task _producer;

    public BatchPrefetcher(ImageDataset data, int[] order, int batchSize, bool dropLast, int capacity = 3)
    {
        _queue = new BlockingCollection<Batch>(capacity);
        _producer = Task.Factory.StartNew(() => Produce(data, order, batchSize, dropLast), _cancel.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public IEnumerable<Batch> Batches => _queue.GetConsumingEnumerable();

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

    private void Produce(ImageDataset data, int[] order, int batchSize, bool dropLast)
    {
        try
        {
            int size = data.Shape.Size;
            for (int start = 0; start < order.Length; start += batchSize)
            {
                int count = Math.Min(batchSize, order.Length - start);
                if (dropLast && count < batchSize && start > 0)
                {
                    break;
                }

                var pixels = new float[count * size];
                var labels = new long[count];
                int k = data.NumClasses;
                var teacher = data.TeacherLogits is null ? null : new float[count * k];
                for (int i = 0; i < count; i++)
                {
                    int row = order[start + i];
                    Array.Copy(data.Pixels, (long)row * size, pixels, (long)i * size, size);
                    labels[i] = data.Labels[row];
                    if (teacher is not null)
                    {
                        Array.Copy(data.TeacherLogits!, (long)row * k, teacher, (long)i * k, k);
                    }
                }

                _queue.Add(new Batch(pixels, labels, count, teacher), _cancel.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _queue.CompleteAdding();
        }
    }
}
