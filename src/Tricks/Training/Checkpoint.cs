using System.Security.Cryptography;
using MLNetCnn.Architectures.Weights;
using MLNetCnn.Tricks.Precision;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Training;

/// <summary>Where a run stood at the end of an epoch.</summary>
/// <param name="Epoch">Last completed epoch (1-based).</param>
/// <param name="Step">Optimizer steps taken so far.</param>
/// <param name="LossScale">Dynamic loss scale (float16), 1 otherwise.</param>
/// <param name="History">Metrics of the completed epochs.</param>
/// <param name="BestEpoch">The epoch whose weights early stopping kept (0: none, or no early stopping).</param>
/// <param name="BatchSize">The run's batch size (0: unknown, a version-3 checkpoint).</param>
internal sealed record CheckpointState(int Epoch, long Step, double LossScale, IReadOnlyList<EpochMetrics> History, int BestEpoch = 0, int BatchSize = 0);

/// <summary>
/// The end-of-epoch checkpoint: float32 master weights and buffers by state_dict name, the optimizer's
/// momentum state, the step counter, the history and, with early stopping, the best epoch's copy of the masters and buffers. Random state needs no saving: every random draw
/// of a step is seeded from (seed, step) and every shuffle from (seed, epoch).
/// </summary>
/// <remarks>
/// Integrity: the file ends with a SHA-256 of everything before it, checked before anything is read; it is
/// written to a temporary file, flushed to disk and renamed, and the checkpoint it replaces is kept as
/// <see cref="PreviousFileName"/>. A resume from a damaged checkpoint (a torn write, a bad disk, a truncated
/// copy) falls back to the previous one and says so in the log, or fails naming the files; it never
/// continues from damaged weights. Counts and tensor sizes are checked against the model and the bytes left
/// in the file before anything is allocated.
/// </remarks>
internal static class Checkpoint
{
    public const string FileName = "checkpoint.bin";
    public const string PreviousFileName = "checkpoint.prev.bin";
    private const string Magic = "MLNetCnn.Checkpoint";
    private const int Version = 4; // 3: SHA-256 trailer, tensors as checked records; 4: the best epoch's copy and the batch size after the optimizer

    /// <summary>Version 3 checkpoints, written before early stopping's copy was kept, still resume (with no best epoch).</summary>
    private const int OldestReadableVersion = 3;
    private const int DigestBytes = 32;
    private const int HistoryRecordBytes = (4 * 2) + (8 * 7);

    public static string PathIn(string directory) => Path.Combine(directory, FileName);

    public static void Save(string directory, CheckpointState state, MasterWeights masters, nn.Module model, Optimization.MomentumSgd optimizer, BestEpoch? best)
    {
        Directory.CreateDirectory(directory);
        string path = PathIn(directory);
        string temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
        {
            using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                writer.Write(Magic);
                writer.Write(Version);
                writer.Write(state.Epoch);
                writer.Write(state.Step);
                writer.Write(state.LossScale);
                writer.Write(state.History.Count);
                foreach (var m in state.History)
                {
                    writer.Write(m.Epoch);
                    writer.Write(m.Epochs);
                    writer.Write(m.TrainLoss);
                    writer.Write(m.TrainAccuracy);
                    writer.Write(m.ValidationLoss ?? double.NaN);
                    writer.Write(m.ValidationAccuracy ?? double.NaN);
                    writer.Write(m.LearningRate);
                    writer.Write(m.Elapsed.Ticks);
                    writer.Write(m.ImagesPerSecond);
                }

                var tensors = Tensors(masters, model);
                writer.Write(tensors.Count);
                foreach (var (name, t) in tensors)
                {
                    writer.Write(name);
                    TensorRecord.Write(writer, t);
                }

                optimizer.Save(writer);
                writer.Write(best?.Best?.Epoch ?? 0);
                foreach (var saved in best?.Best is null ? [] : best.Saved)
                {
                    TensorRecord.Write(writer, saved);
                }

                writer.Write(state.BatchSize);
            }

            stream.Position = 0;
            var digest = SHA256.HashData(stream);
            stream.Write(digest);
            stream.Flush(flushToDisk: true);
        }

        string previous = Path.Combine(directory, PreviousFileName);
        if (File.Exists(path))
        {
            File.Move(path, previous, overwrite: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>
    /// Creates <paramref name="directory"/> and writes a file in it, before the first epoch: a folder that cannot take
    /// checkpoints (a file of that name, no permission) failed at the end of the first epoch, which was lost.
    /// </summary>
    /// <exception cref="IOException">The folder cannot be created or written; the message names it.</exception>
    public static void CheckWritable(string directory)
    {
        try
        {
            Directory.CreateDirectory(directory);
            using (File.Create(PathIn(directory) + ".tmp", 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"CheckpointDirectory '{directory}' cannot hold checkpoints: {e.Message}", e);
        }
    }

    /// <summary>
    /// Restores the newest intact checkpoint in <paramref name="directory"/>: <see cref="FileName"/>, or
    /// <see cref="PreviousFileName"/> when the newest is damaged (logged). Null when there is none.
    /// </summary>
    /// <exception cref="InvalidDataException">Every checkpoint present is damaged, or belongs to another model; the message names each file.</exception>
    public static CheckpointState? Resume(string directory, MasterWeights masters, nn.Module model, Optimization.MomentumSgd optimizer, BestEpoch? best, Action<string>? log)
    {
        var candidates = new[] { PathIn(directory), Path.Combine(directory, PreviousFileName) }.Where(File.Exists).ToList();
        var damaged = new List<string>();
        foreach (string path in candidates)
        {
            try
            {
                var state = Load(path, masters, model, optimizer, best);
                log?.Invoke(FormattableString.Invariant($"resumed from {path} after epoch {state.Epoch} (step {state.Step})"));
                return state;
            }
            catch (InvalidDataException e)
            {
                damaged.Add(e.Message);
                log?.Invoke($"not resuming from {path}: {e.Message}");
            }
        }

        return damaged.Count == 0 ? null : throw new InvalidDataException($"No intact checkpoint to resume from: {string.Join(" ", damaged)} Delete the checkpoint folder or train without Resume.");
    }

    /// <summary>
    /// A checkpoint past this run's last epoch cannot be un-trained: it came back as the model, trained for more epochs than
    /// asked. One of a run with another epoch count, batch size or data continues, but neither run is repeated: the
    /// schedule spans this run, and its step counter is the checkpoint's.
    /// </summary>
    public static void CheckResumable(CheckpointState state, TrainerOptions options, int stepsPerEpoch, Action<string>? log)
    {
        if (state.Epoch > options.Epochs)
        {
            throw new ArgumentException(FormattableString.Invariant($"The checkpoint in '{options.CheckpointDirectory}' is after epoch {state.Epoch}, past this run's Epochs {options.Epochs}: set Epochs to at least {state.Epoch} to continue it, or train without Resume (or delete the folder) to start over."), nameof(TrainerOptions.Epochs));
        }

        if (state.History.Count > 0 && state.History[^1].Epochs != options.Epochs && options.TimeLimit is null)
        {
            log?.Invoke(FormattableString.Invariant($"the checkpoint's run had {state.History[^1].Epochs} epochs and this one has {options.Epochs}: the learning-rate schedule now spans {options.Epochs} epochs, so neither run is repeated exactly"));
        }

        if (state.BatchSize > 0 && state.BatchSize != options.BatchSize)
        {
            log?.Invoke(FormattableString.Invariant($"warning: the checkpoint's run had BatchSize {state.BatchSize} and this one has {options.BatchSize}: the learning-rate schedule and the random draws continue from step {state.Step}, so neither run is repeated"));
        }
        else if (state.Step > (long)state.Epoch * stepsPerEpoch || (options.Data.Strict && state.Step != (long)state.Epoch * stepsPerEpoch))
        {
            // Other training data (or a version-3 checkpoint, which does not record its batch size). Steps are not counted
            // for a batch whose every image was unreadable, so fewer steps alone prove nothing.
            log?.Invoke(FormattableString.Invariant($"warning: the checkpoint took {state.Step} steps in {state.Epoch} epoch(s) and this run takes {stepsPerEpoch} per epoch (another BatchSize, or other training data): the learning-rate schedule and the random draws continue from step {state.Step}, so neither run is repeated"));
        }
    }

    /// <summary>Verifies the checksum of <paramref name="path"/>, then restores the model, its masters, the optimizer and <paramref name="best"/>'s copy from it.</summary>
    /// <exception cref="InvalidDataException">Damaged, truncated, of another version, or written for another model; the message names the file.</exception>
    public static CheckpointState Load(string path, MasterWeights masters, nn.Module model, Optimization.MomentumSgd optimizer, BestEpoch? best)
    {
        try
        {
            using var stream = File.OpenRead(path);
            long payload = Verify(stream, path);
            stream.Position = 0;
            using var reader = new BinaryReader(new BoundedStream(stream, payload));
            var state = Read(reader, path, masters, model, optimizer, best);
            if (stream.Position != payload)
            {
                throw new InvalidDataException($"Checkpoint '{path}' has {payload - stream.Position} bytes after its contents.");
            }

            masters.MastersToLayers();
            return state;
        }
        catch (Exception e) when (e is not InvalidDataException && UntrustedFile.IsMalformed(e))
        {
            throw new InvalidDataException($"Checkpoint '{path}' is damaged: {e.Message}", e);
        }
    }

    /// <summary>Checks the trailing SHA-256 and returns the length of what it covers.</summary>
    private static long Verify(FileStream stream, string path)
    {
        long payload = stream.Length - DigestBytes;
        if (payload <= 0)
        {
            throw new InvalidDataException($"Checkpoint '{path}' is damaged: {stream.Length} bytes, too short to be a checkpoint (truncated?).");
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        for (long left = payload; left > 0;)
        {
            int read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            hash.AppendData(buffer, 0, read);
            left -= read;
        }

        Span<byte> stored = stackalloc byte[DigestBytes];
        stream.ReadExactly(stored);
        if (!hash.GetHashAndReset().AsSpan().SequenceEqual(stored))
        {
            throw new InvalidDataException($"Checkpoint '{path}' is damaged: its SHA-256 does not match its contents (a torn write, a bad copy or a truncated file; or written by a version before checksums).");
        }

        return payload;
    }

    private static CheckpointState Read(BinaryReader reader, string path, MasterWeights masters, nn.Module model, Optimization.MomentumSgd optimizer, BestEpoch? best)
    {
        if (reader.ReadString() != Magic || reader.ReadInt32() is var version && version is < OldestReadableVersion or > Version)
        {
            throw new InvalidDataException($"'{path}' is not an MLNetCnn checkpoint of version {OldestReadableVersion} to {Version}.");
        }

        int epoch = reader.ReadInt32();
        long step = reader.ReadInt64();
        double lossScale = reader.ReadDouble();
        int count = reader.ReadInt32();
        if (count < 0 || (long)count * HistoryRecordBytes > reader.BaseStream.Length - reader.BaseStream.Position)
        {
            throw new InvalidDataException($"Checkpoint '{path}' declares {count} history records, more than its remaining {reader.BaseStream.Length - reader.BaseStream.Position} bytes hold.");
        }

        var history = new List<EpochMetrics>(count);
        for (int i = 0; i < count; i++)
        {
            int e = reader.ReadInt32();
            int epochs = reader.ReadInt32();
            double loss = reader.ReadDouble();
            double accuracy = reader.ReadDouble();
            double vl = reader.ReadDouble();
            double va = reader.ReadDouble();
            double lr = reader.ReadDouble();
            long ticks = reader.ReadInt64();
            double ips = reader.ReadDouble();
            history.Add(new EpochMetrics(e, epochs, loss, accuracy, double.IsNaN(vl) ? null : vl, double.IsNaN(va) ? null : va, lr, TimeSpan.FromTicks(ticks), ips));
        }

        var tensors = Tensors(masters, model).ToDictionary(t => t.Name, t => t.Tensor, StringComparer.Ordinal);
        int stored = reader.ReadInt32();
        if (stored != tensors.Count)
        {
            throw new InvalidDataException($"Checkpoint '{path}' holds {stored} tensors but the model has {tensors.Count}: it was written for another architecture.");
        }

        for (int i = 0; i < stored; i++)
        {
            string name = reader.ReadString();
            if (!tensors.TryGetValue(name, out var target))
            {
                throw new InvalidDataException($"Checkpoint '{path}' has tensor '{name}', which the model lacks: it was written for another architecture.");
            }

            TensorRecord.ReadInto(reader, target, $"Checkpoint '{path}', tensor '{name}'");
        }

        optimizer.Load(reader);
        if (version < 4)
        {
            return new CheckpointState(epoch, step, lossScale, history);
        }

        int bestEpoch = ReadBest(reader, path, epoch, Tensors(masters, model).Select(t => t.Tensor), best);
        int batchSize = reader.ReadInt32();
        return batchSize > 0
            ? new CheckpointState(epoch, step, lossScale, history, bestEpoch, batchSize)
            : throw new InvalidDataException($"Checkpoint '{path}' gives a batch size of {batchSize}.");
    }

    /// <summary>
    /// The best epoch's copy of a version-4 checkpoint, into <paramref name="best"/> (read past when the run has no early
    /// stopping); 0 when the checkpoint holds none.
    /// </summary>
    private static int ReadBest(BinaryReader reader, string path, int epoch, IEnumerable<Tensor> tensors, BestEpoch? best)
    {
        int bestEpoch = reader.ReadInt32();
        if (bestEpoch < 0 || bestEpoch > epoch)
        {
            throw new InvalidDataException($"Checkpoint '{path}' names epoch {bestEpoch} as the best of {epoch}.");
        }

        if (bestEpoch > 0)
        {
            foreach (var (target, i) in (best?.Saved ?? tensors.Select(t => t.detach().clone())).Select((t, i) => (t, i)))
            {
                TensorRecord.ReadInto(reader, target, $"Checkpoint '{path}', best epoch's tensor {i}");
                if (best is null)
                {
                    target.Dispose();
                }
            }
        }

        return bestEpoch;
    }

    /// <summary>What a checkpoint (and the best-epoch copy) holds: the float32 masters and every buffer, by name.</summary>
    internal static List<(string Name, Tensor Tensor)> Tensors(MasterWeights masters, nn.Module model)
    {
        var list = masters.Masters.Select(m => (m.Name, (Tensor)m.Parameter)).ToList();
        list.AddRange(model.named_buffers().Select(b => ("buffer:" + b.name, b.buffer)));
        return list;
    }

    /// <summary>A read-only view of the first <c>length</c> bytes of a stream (the checkpoint without its digest).</summary>
    private sealed class BoundedStream(Stream inner, long length) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => inner.Position;
            set => inner.Position = value;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer) => inner.Read(buffer[..(int)Math.Min(buffer.Length, Math.Max(0, length - inner.Position))]);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>
/// One tensor in a checkpoint: dtype, shape, then its bytes (contiguous, little-endian as in memory; a channels-last
/// tensor, see <see cref="TensorLayout.ChannelsLast"/>, is made contiguous first). Reading checks dtype and shape
/// against the tensor it fills before reading a byte, so a damaged size never allocates, and copies into the target
/// whatever its layout.
/// </summary>
internal static class TensorRecord
{
    public static void Write(BinaryWriter writer, Tensor tensor)
    {
        using var cpu = tensor.detach().cpu().contiguous();
        writer.Write((int)cpu.dtype);
        writer.Write((int)cpu.dim());
        foreach (long d in cpu.shape)
        {
            writer.Write(d);
        }

        writer.Flush();
        using var flat = cpu.view(-1);
        const long Chunk = 1 << 24;
        for (long start = 0; start < flat.shape[0]; start += Chunk)
        {
            using var part = flat.narrow(0, start, Math.Min(Chunk, flat.shape[0] - start));
            writer.BaseStream.Write(part.bytes);
        }
    }

    /// <summary>Reads a record into <paramref name="target"/> (any device); <paramref name="what"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">The record's dtype or shape is not the target's, or the stream ends first.</exception>
    public static void ReadInto(BinaryReader reader, Tensor target, string what)
    {
        var type = (ScalarType)reader.ReadInt32();
        int rank = reader.ReadInt32();
        if (type != target.dtype || rank != target.dim())
        {
            throw new InvalidDataException($"{what}: stored as {type} of rank {rank}; expected {target.dtype} of shape [{string.Join(", ", target.shape)}].");
        }

        var shape = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            shape[i] = reader.ReadInt64();
        }

        if (!shape.SequenceEqual(target.shape))
        {
            throw new InvalidDataException($"{what}: stored with shape [{string.Join(", ", shape)}]; expected [{string.Join(", ", target.shape)}].");
        }

        using var loaded = empty(shape, type);
        UntrustedFile.Fill(loaded, reader.BaseStream);
        using var noGrad = no_grad();
        target.copy_(loaded);
    }
}
