using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Data;

namespace MLNetCnn.Estimators.Data;

/// <summary>The trainer's image column: its kind, and the fitted conversion to pixels for image columns.</summary>
/// <param name="Kind">Pixels, path, bytes or MLImage.</param>
/// <param name="ImageColumn">The user's column.</param>
/// <param name="PixelColumn">The pixel column the model reads (the user's column for pixels, <see cref="ImageInput.PixelColumnName"/> otherwise).</param>
/// <param name="Conversion">Decode, resize, extract (null for pixel columns): the same transformer the saved model starts with.</param>
/// <param name="Shape">Shape of one image.</param>
internal sealed record ImageColumnPlan(ImageColumnKind Kind, string ImageColumn, string PixelColumn, ITransformer? Conversion, ImageShape Shape)
{
    /// <summary><paramref name="data"/> with the pixel column (converted lazily, as ML.NET transforms do).</summary>
    public IDataView Apply(IDataView data) => Conversion?.Transform(data) ?? data;
}

/// <summary>
/// Reads an <see cref="IDataView"/> as an <see cref="IImageSource"/> without materializing it beyond what
/// <see cref="DataOptions"/> allows. A first pass reads the labels (and, for a path column, the paths;
/// ML.NET computes only the columns a cursor asks for, so no image is decoded there). Then:
/// <list type="bullet">
/// <item>a path column is decoded on demand, in parallel, by the same conversion transformer the saved
/// model starts with (one <see cref="PredictionEngine{TSrc, TDst}"/> per decoding thread), into memory
/// when it fits the budget, streamed otherwise;</item>
/// <item>bytes, MLImage and pixel columns cannot be read in a shuffled order, so one sequential cursor
/// pass writes their pixels (uint8 where they are 0..255 integers) to memory or, past the budget, to a
/// temporary file that every epoch then reads in its own order.</item>
/// </list>
/// Every value is checked on the way, so bad input becomes a clear error, never a native crash.
/// </summary>
internal static class DataViewImageSource
{
    /// <summary>How often a long read of the images reports its progress to the log (tests shorten it).</summary>
    internal static TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The least time between two calls of a read's progress callback (its last call, at the end, always comes).</summary>
    internal static TimeSpan CallbackInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Reads <paramref name="data"/> (the user's view, before the conversion). Without a label column (the
    /// featurizer's statistics) every image is class 0 of <paramref name="numClasses"/>.
    /// </summary>
    /// <remarks>
    /// The pass that decodes a path column into memory, and the sequential pass over a bytes, MLImage or pixel column,
    /// report their progress to <paramref name="log"/> every <see cref="ProgressInterval"/>, and to <paramref name="progress"/>
    /// (images read, images in all, time since the read began) at most every <see cref="CallbackInterval"/> and once at the end. A path
    /// column streamed from its files has no such pass: its epochs read it.
    /// </remarks>
    public static IImageSource Read(MLContext mlContext, IDataView data, ImageColumnPlan plan, string? labelColumnName, int numClasses, string role, DataOptions options, CancellationToken cancellationToken, Action<string>? log = null, Action<int, int, TimeSpan>? progress = null)
    {
        var (labels, paths) = ReadLabels(data, labelColumnName, plan.Kind == ImageColumnKind.Path ? plan.ImageColumn : null, numClasses, role);
        var reading = new ReadProgress(log, progress, role, labels.Length);
        if (plan.Kind == ImageColumnKind.Path)
        {
            // 150,000 paths decoded into memory said nothing for 8.4 s (an outside tester); photos take minutes.
            var decoder = new PathDecoder(mlContext, plan);
            return ImageSources.FromDecoder(plan.Shape, labels, numClasses, (row, pixels) => decoder.Decode(paths![row], pixels), options, cancellationToken, reading.Report);
        }

        var view = plan.Apply(data);
        return plan.Kind == ImageColumnKind.Pixels
            ? ReadPixels(view, plan, labels, numClasses, role, options, ImagePixelType.Byte, cancellationToken, reading, locate: null)
                ?? ReadPixels(view, plan, labels, numClasses, role, options, ImagePixelType.Single, cancellationToken, reading, locate: null)!
            : ReadPixels(view, plan, labels, numClasses, role, options, ImagePixelType.Byte, cancellationToken, reading, plan.Kind == ImageColumnKind.Bytes ? from => LocateUnreadableBytes(data, plan.ImageColumn, from, cancellationToken) : null)!;
    }

    /// <summary>How a source holds its images, for the log.</summary>
    public static string Describe(IImageSource source) => source switch
    {
        ImageDataset { OnDisk: true } d => FormattableString.Invariant($"{d.Count} images of {d.Shape} in a temporary file ({d.StoredBytes >> 20} MB, {d.PixelType}), read back each epoch on {d.ReadParallelism} thread(s)"),
        ImageDataset d => FormattableString.Invariant($"{d.Count} images of {d.Shape} in memory ({d.StoredBytes >> 20} MB, {d.PixelType})"),
        StreamingImageSource s => FormattableString.Invariant($"{s.Count} images of {s.Shape} streamed: decoded on {s.ReadParallelism} thread(s){(s.CachePath is { } cache ? $", cached in {Path.GetDirectoryName(cache)}" : ", not cached")}"),
        _ => FormattableString.Invariant($"{source.Count} images of {source.Shape}"),
    };

    private static (int[] Labels, string[]? Paths) ReadLabels(IDataView data, string? labelColumnName, string? pathColumnName, int numClasses, string role)
    {
        DataViewSchema.Column? label = labelColumnName is null ? null : data.Schema[labelColumnName];
        var columns = new List<DataViewSchema.Column>();
        if (label is { } l)
        {
            columns.Add(l);
        }

        if (pathColumnName is not null)
        {
            columns.Add(data.Schema[pathColumnName]);
        }

        var labels = new List<int>();
        var paths = pathColumnName is null ? null : new List<string>();
        var classesSeen = new HashSet<int>();
        using (var cursor = data.GetRowCursor(columns))
        {
            ValueGetter<uint> getLabel = label is { } labelColumn ? cursor.GetGetter<uint>(labelColumn) : (ref uint value) => value = 1;
            var getPath = pathColumnName is null ? null : cursor.GetGetter<ReadOnlyMemory<char>>(columns[^1]);
            uint key = 0;
            ReadOnlyMemory<char> path = default;
            while (cursor.MoveNext())
            {
                getLabel(ref key);
                if (key == 0 || key > numClasses)
                {
                    // ML.NET's own trainers skip rows without a label; this one refuses them, so it says how to drop them.
                    throw new TrainingDataException(key == 0
                        ? $"{role} data, row {labels.Count}: label column '{labelColumnName}' has a missing key (0: a value MapValueToKey did not know, or an empty or NaN label); expected 1..{numClasses}. Rows without a label are not skipped: drop them first with mlContext.Data.FilterRowsByMissingValues(data, \"{labelColumnName}\"), or key the labels with a mapping that knows every value."
                        : $"{role} data, row {labels.Count}: label column '{labelColumnName}' has an out-of-range key ({key}); expected 1..{numClasses}.");
                }

                labels.Add((int)key - 1);
                classesSeen.Add((int)key - 1);
                if (getPath is not null)
                {
                    getPath(ref path);
                    paths!.Add(path.ToString());
                }
            }
        }

        if (labels.Count == 0)
        {
            throw new TrainingDataException($"The {role} data view has no rows.");
        }

        if (role == "training" && classesSeen.Count < 2)
        {
            throw new TrainingDataException($"Label column '{labelColumnName}' holds a single class in the {role} data ({labels.Count} rows, all class index {classesSeen.Single()}); a classifier needs at least 2.");
        }

        return (labels.ToArray(), paths?.ToArray());
    }

    /// <summary>
    /// One cursor pass writing every row's pixels; null when <paramref name="type"/> is uint8 and a value is not a 0..255
    /// integer. <paramref name="locate"/> finds the row of an image that failed on one of ML.NET's threads, ahead of the
    /// cursor (without it, the cursor's row is only a lower bound).
    /// </summary>
    private static ImageDataset? ReadPixels(IDataView view, ImageColumnPlan plan, int[] labels, int numClasses, string role, DataOptions options, ImagePixelType type, CancellationToken cancellationToken, ReadProgress progress, Func<int, (int Row, string Where)?>? locate)
    {
        var shape = plan.Shape;
        int size = shape.Size;
        long bytes = (long)labels.Length * size * (type == ImagePixelType.Byte ? 1 : sizeof(float));
        string? directory = options.KeepsInMemory(bytes) ? null : options.FileDirectory;
        var dataset = ImageDataset.Allocate(labels, shape, numClasses, type, directory, options.DecodeParallelism);
        try
        {
            var column = view.Schema[plan.PixelColumn];
            var rowBytes = new byte[size];
            using (var cursor = view.GetRowCursor(new[] { column }))
            {
                var getPixels = cursor.GetGetter<VBuffer<float>>(column);
                VBuffer<float> buffer = default;
                int row = 0;
                for (; NextRow(cursor, role, row, locate); row++)
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        throw new OperationCanceledException(FormattableString.Invariant($"Reading the {role} data was cancelled after {row} of {labels.Length} rows, before training started."), cancellationToken);
                    }

                    if (row >= labels.Length)
                    {
                        throw new InvalidOperationException($"The {role} data view gave more rows on a second read than the {labels.Length} of the first; it must give the same rows every time it is read.");
                    }

                    try
                    {
                        getPixels(ref buffer);
                    }
                    catch (Exception e) when (Unreadable(e) is { } unreadable)
                    {
                        throw new InvalidDataException($"{role} data, row {row}: {unreadable.Message}", unreadable);
                    }

                    // Decoding 30,000 images took 11 s with nothing said (an outside sweep); photos take far longer.
                    progress.Report(row + 1);
                    var values = CheckRow(buffer, plan, row, role);
                    if (type == ImagePixelType.Single)
                    {
                        dataset.WriteImage(row, values);
                    }
                    else if (ImageSources.TryConvertToBytes(values, rowBytes))
                    {
                        dataset.WriteImage(row, rowBytes);
                    }
                    else
                    {
                        dataset.Dispose();
                        return null;
                    }
                }

                if (row != labels.Length)
                {
                    throw new InvalidOperationException($"The {role} data view gave {row} rows on a second read and {labels.Length} on the first; it must give the same rows every time it is read.");
                }

                progress.Report(row);
            }

            return dataset;
        }
        catch
        {
            dataset.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Moves the cursor; an image that cannot be read surfaces here when ML.NET decodes rows ahead on other threads (a
    /// <c>LoadRawImageBytes</c> or <c>LoadImages</c> column): it is reported with the row reached, not inside ML.NET's
    /// "Splitter/consolidator worker" wrapper.
    /// </summary>
    private static bool NextRow(DataViewRowCursor cursor, string role, int row, Func<int, (int Row, string Where)?>? locate)
    {
        try
        {
            return cursor.MoveNext();
        }
        catch (Exception e) when (Unreadable(e) is { } unreadable)
        {
            // Wrapped, it came from a worker that decodes ahead of the cursor: the row is a lower bound, not the row.
            string where = locate?.Invoke(row) is { } found ? $"row {found.Row}{found.Where}"
                : ReferenceEquals(e, unreadable) ? $"row {row}"
                : $"a row at or after row {row} (rows are decoded ahead, on other threads)";
            throw new InvalidDataException($"{role} data, reading {where}: {unreadable.Message}", unreadable);
        }
    }

    /// <summary>
    /// The first row from <paramref name="from"/> on whose encoded image does not decode, with the row's text columns (the
    /// path <c>LoadRawImageBytes</c> read, in ML.NET's usual image pipeline): the user's bytes column is decoded again, one
    /// row at a time. ML.NET had decoded it ahead on its own threads, so the cursor's row was only a lower bound, and the
    /// message named neither the row nor the file (an outside sweep: one truncated JPEG among 59 paths). Null when no
    /// row fails on its own; the bound then stands.
    /// </summary>
    private static (int Row, string Where)? LocateUnreadableBytes(IDataView data, string column, int from, CancellationToken cancellationToken)
    {
        var bytes = data.Schema[column];
        var texts = data.Schema.Where(c => !c.IsHidden && c.Type is TextDataViewType).Take(3).ToList();
        using var cursor = data.GetRowCursor(texts.Append(bytes));
        var getBytes = cursor.GetGetter<VBuffer<byte>>(bytes);
        var getTexts = texts.Select(cursor.GetGetter<ReadOnlyMemory<char>>).ToList();
        VBuffer<byte> encoded = default;
        for (int row = 0; cursor.MoveNext(); row++)
        {
            if (row < from)
            {
                continue;
            }

            cancellationToken.ThrowIfCancellationRequested();
            getBytes(ref encoded);
            try
            {
                ImageDecoding.DecodeBytes(encoded.DenseValues().ToArray(), "encoded image").Dispose();
            }
            catch (InvalidDataException)
            {
                var values = texts.Select((c, i) =>
                {
                    ReadOnlyMemory<char> value = default;
                    getTexts[i](ref value);
                    return $"{c.Name} '{ClassFolderNames.Visible(value.ToString())}'";
                });
                return (row, texts.Count == 0 ? string.Empty : $" ({string.Join(", ", values)})");
            }
        }

        return null;
    }

    /// <summary>The <see cref="InvalidDataException"/> of an image that cannot be read, as thrown by the decoders or wrapped by ML.NET.</summary>
    private static InvalidDataException? Unreadable(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is InvalidDataException unreadable)
            {
                return unreadable;
            }
        }

        return null;
    }

    private static ReadOnlySpan<float> CheckRow(in VBuffer<float> buffer, ImageColumnPlan plan, int row, string role)
    {
        if (buffer.Length != plan.Shape.Size)
        {
            throw new TrainingDataException($"{role} data, row {row}: feature column '{plan.PixelColumn}' has {buffer.Length} values; the image shape {plan.Shape} needs {plan.Shape.Size}.");
        }

        var values = buffer.GetValues();
        if (values.Length != buffer.Length)
        {
            var dense = new float[buffer.Length];
            buffer.CopyTo(dense);
            values = dense;
        }

        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                throw new TrainingDataException($"{role} data, row {row}: feature column '{plan.PixelColumn}' has a non-finite pixel ({values[i]}) at index {i}; pixels must be finite numbers.");
            }
        }

        return values;
    }

    /// <summary>
    /// "Reading the training images: N of M (R images/s)" on the log, at most every <see cref="ProgressInterval"/>; the
    /// count to the callback at most every <see cref="CallbackInterval"/>, and when the last image is read.
    /// </summary>
    private sealed class ReadProgress(Action<string>? log, Action<int, int, TimeSpan>? callback, string role, int total)
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private TimeSpan _nextLog = ProgressInterval;
        private TimeSpan? _lastCallback;

        /// <param name="done">Images read so far.</param>
        public void Report(int done)
        {
            var now = _clock.Elapsed;
            if (callback is not null && (done >= total || _lastCallback is not { } last || now - last >= CallbackInterval))
            {
                callback(done, total, now);
                _lastCallback = now;
            }

            if (log is not null && now >= _nextLog)
            {
                log(FormattableString.Invariant($"Reading the {role} images: {done} of {total} ({done / now.TotalSeconds:F0} images/s)"));
                _nextLog = now + ProgressInterval;
            }
        }
    }

    /// <summary>
    /// Decodes image files with the model's own conversion (the same transformer object the saved model
    /// starts with), one prediction engine per thread, so training sees exactly the pixels serving will.
    /// </summary>
    private sealed class PathDecoder
    {
        private readonly System.Collections.Concurrent.ConcurrentBag<(PredictionEngine<PathRow, PixelRow> Engine, PixelRow Output)> _engines = new();
        private readonly Func<PredictionEngine<PathRow, PixelRow>> _create;
        private readonly object _creating = new();

        public PathDecoder(MLContext mlContext, ImageColumnPlan plan)
        {
            var input = SchemaDefinition.Create(typeof(PathRow));
            input[nameof(PathRow.Path)].ColumnName = plan.ImageColumn;
            var output = SchemaDefinition.Create(typeof(PixelRow));
            var pixels = output[nameof(PixelRow.Pixels)];
            pixels.ColumnName = ImageInput.PixelColumnName;
            pixels.ColumnType = new VectorDataViewType(NumberDataViewType.Single, plan.Shape.Size);
            _create = () => mlContext.Model.CreatePredictionEngine<PathRow, PixelRow>(plan.Conversion!, ignoreMissingColumns: true, input, output);
        }

        public void Decode(string path, Span<byte> pixels)
        {
            if (!_engines.TryTake(out var lease))
            {
                lock (_creating)
                {
                    lease = (_create(), new PixelRow());
                }
            }

            try
            {
                var output = lease.Output;
                try
                {
                    lease.Engine.Predict(new PathRow { Path = path }, ref output);
                }
                catch (Exception e) when (e is not InvalidDataException && Unreadable(e) is { } unreadable)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(unreadable);
                }

                if (!ImageSources.TryConvertToBytes(output.Pixels, pixels))
                {
                    throw new InvalidOperationException($"Image '{path}': the conversion produced pixel values outside 0..255 integers.");
                }
            }
            finally
            {
                _engines.Add(lease);
            }
        }
    }

    private sealed class PathRow
    {
        public string Path { get; set; } = string.Empty;
    }

    private sealed class PixelRow
    {
        public float[] Pixels { get; set; } = Array.Empty<float>();
    }
}
