using System.Numerics;
using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Tricks.Data;

/// <summary>Building image sources, and what every source offers: teacher logits and channel statistics.</summary>
public static class ImageSources
{
    /// <summary>Images the channel statistics read at most (evenly spaced over the rows).</summary>
    public const int StatisticsSampleSize = 10_000;

    /// <summary>
    /// Images produced by <paramref name="decoder"/>, held as <paramref name="options"/> says: decoded now,
    /// in parallel, into memory (uint8) when they fit <see cref="DataOptions.MemoryBudgetBytes"/> or
    /// <see cref="DataMode.InMemory"/> is asked for; otherwise a <see cref="StreamingImageSource"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">Decoding into memory: an image does not decode (the decoder's exception, naming it).</exception>
    /// <param name="shape">Shape of every decoded image.</param>
    /// <param name="labels">Class index of each row.</param>
    /// <param name="numClasses">Number of classes.</param>
    /// <param name="decoder">Produces the pixels of a row (called from several threads).</param>
    /// <param name="options">Mode, budget, threads, cache.</param>
    /// <param name="cancellationToken">Stops decoding into memory.</param>
    /// <param name="progress">Decoding into memory: called on the calling thread with the number of images decoded so far, after every batch of them.</param>
    public static IImageSource FromDecoder(ImageShape shape, int[] labels, int numClasses, ImageDecoder decoder, DataOptions options, CancellationToken cancellationToken = default, Action<int>? progress = null)
    {
        options.Validate();
        if (!options.KeepsInMemory((long)labels.Length * shape.Size))
        {
            return new StreamingImageSource(shape, labels, numClasses, decoder, options);
        }

        using var streamed = new StreamingImageSource(shape, labels, numClasses, decoder, options with { CacheDecodedImages = false });
        var dataset = ImageDataset.Allocate(labels, shape, numClasses, ImagePixelType.Byte);
        var order = Enumerable.Range(0, labels.Length).ToArray();
        using var reader = new BatchPrefetcher(streamed, order, batchSize: 64, options.PrefetchBatches, skippable: null, cancellationToken);
        int decoded = 0;
        foreach (var batch in reader.Batches)
        {
            using var lease = batch;
            var pixels = (byte[])batch.Pixels;
            for (int i = 0; i < batch.Count; i++)
            {
                dataset.WriteImage(batch.Rows[i], pixels.AsSpan(i * shape.Size, shape.Size));
            }

            decoded += batch.Count;
            progress?.Invoke(decoded);
        }

        return dataset;
    }

    /// <summary>
    /// This source with teacher logits (or log-probabilities) per row, <see cref="IImageSource.Count"/> x
    /// <see cref="IImageSource.NumClasses"/>, row-major: the soft targets of distillation when the teacher
    /// ran before training. Disposing the result disposes <paramref name="source"/>.
    /// </summary>
    public static IImageSource WithTeacherLogits(this IImageSource source, float[] teacherLogits)
    {
        if (teacherLogits.LongLength != (long)source.Count * source.NumClasses)
        {
            throw new ArgumentException($"Teacher logits must hold {source.Count} rows x {source.NumClasses} classes = {(long)source.Count * source.NumClasses} values; found {teacherLogits.LongLength}.", nameof(teacherLogits));
        }

        int bad = Array.FindIndex(teacherLogits, v => !float.IsFinite(v));
        if (bad >= 0)
        {
            throw new ArgumentException($"Teacher logit of row {bad / source.NumClasses}, class {bad % source.NumClasses} is {teacherLogits[bad]}; expected a finite value.", nameof(teacherLogits));
        }

        return new TeacherLogitsSource(source, teacherLogits);
    }

    /// <summary>
    /// Per-channel mean and standard deviation of the pixel values, and the least and greatest value, over every image
    /// or, past <paramref name="maxImages"/>, over that many evenly spaced ones.
    /// </summary>
    /// <exception cref="InvalidDataException">An image cannot be read (the source's exception, naming it).</exception>
    /// <exception cref="InvalidDataException">A pixel's magnitude exceeds <see cref="ImageDataset.MaxPixelMagnitude"/>; the message names the row, channel and value.</exception>
    public static PixelStatistics Statistics(this IImageSource source, int maxImages = StatisticsSampleSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxImages, 1);
        var shape = source.Shape;
        int c = shape.Channels;
        int plane = shape.Height * shape.Width;
        var rows = source.Count <= maxImages
            ? Enumerable.Range(0, source.Count).ToArray()
            : Enumerable.Range(0, maxImages).Select(i => (int)((long)i * source.Count / maxImages)).ToArray();
        var sum = new double[c];
        var sumSq = new double[c];
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        long images = 0;
        using (var reader = new BatchPrefetcher(source, rows, batchSize: 64, capacity: 2, skippable: null))
        {
            foreach (var batch in reader.Batches)
            {
                using var lease = batch;
                for (int i = 0; i < batch.Count; i++)
                {
                    for (int ch = 0; ch < c; ch++)
                    {
                        long start = (((long)i * c) + ch) * plane;
                        if (batch.Pixels is byte[] bytes)
                        {
                            Accumulate(bytes.AsSpan((int)start, plane), ref sum[ch], ref sumSq[ch], ref min, ref max);
                        }
                        else
                        {
                            var values = ((float[])batch.Pixels).AsSpan((int)start, plane);
                            CheckMagnitude(values, batch.Rows[i], ch);
                            Accumulate(values, ref sum[ch], ref sumSq[ch], ref min, ref max);
                        }
                    }
                }

                images += batch.Count;
            }
        }

        double n = (double)images * plane;
        var mean = sum.Select(s => (float)(s / n)).ToArray();
        var std = sumSq.Select((s, ch) => (float)Math.Sqrt(Math.Max(1e-12, (s / n) - ((sum[ch] / n) * (sum[ch] / n))))).ToArray();
        return new PixelStatistics(mean, std, (float)min, (float)max);
    }

    /// <summary>Per-channel mean and standard deviation: the first two of <see cref="Statistics"/>.</summary>
    [Obsolete("Use Statistics, which also gives the least and greatest pixel value.")]
    public static (float[] Mean, float[] Std) ChannelStatistics(this IImageSource source, int maxImages = StatisticsSampleSize)
    {
        var statistics = source.Statistics(maxImages);
        return (statistics.Mean, statistics.Std);
    }

    /// <summary>Bytes of one stored image.</summary>
    internal static int RowBytes(ImageShape shape, ImagePixelType type) =>
        checked(shape.Size * (type == ImagePixelType.Byte ? 1 : sizeof(float)));

    /// <summary>
    /// Converts pixel values to uint8 when every one is a 0..255 integer (what image decoders produce):
    /// such pixels are stored in a quarter of the memory and reach the model as the same float32 values.
    /// </summary>
    /// <returns>False, with <paramref name="bytes"/> partly written, at the first value that is not one.</returns>
    public static bool TryConvertToBytes(ReadOnlySpan<float> values, Span<byte> bytes)
    {
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            byte b = (byte)v; // saturates: 300 becomes 255, which differs from 300
            if (b != v)
            {
                return false;
            }

            bytes[i] = b;
        }

        return true;
    }

    private static void CheckMagnitude(ReadOnlySpan<float> values, int row, int channel)
    {
        foreach (float v in values)
        {
            if (!(Math.Abs(v) <= ImageDataset.MaxPixelMagnitude))
            {
                throw new InvalidDataException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Image at row {row}, channel {channel} has the pixel value {v}, beyond +-{ImageDataset.MaxPixelMagnitude:G}; the mean and standard deviation baked into the model would be ruined by it (the other images would normalize to about 0). Check the image column's units."));
            }
        }
    }

    private static void Accumulate<T>(ReadOnlySpan<T> values, ref double sum, ref double sumSq, ref double min, ref double max)
        where T : unmanaged, INumberBase<T>
    {
        foreach (T value in values)
        {
            double v = double.CreateTruncating(value);
            sum += v;
            sumSq += v * v;
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
    }

    /// <summary>A source with teacher logits attached; everything else is the inner source's.</summary>
    private sealed class TeacherLogitsSource(IImageSource inner, float[] teacherLogits) : IImageSource
    {
        public int Count => inner.Count;

        public ImageShape Shape => inner.Shape;

        public int NumClasses => inner.NumClasses;

        public IReadOnlyList<int> Labels => inner.Labels;

        public float[]? TeacherLogits => teacherLogits;

        public ImagePixelType PixelType => inner.PixelType;

        public int ReadParallelism => inner.ReadParallelism;

        public void ReadImage(int row, Span<byte> destination) => inner.ReadImage(row, destination);

        public void Dispose() => inner.Dispose();
    }
}
