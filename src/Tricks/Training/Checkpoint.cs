using MLNetCnn.Tricks.Precision;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Training;

/// <summary>Where a run stood at the end of an epoch.</summary>
/// <param name="Epoch">Last completed epoch (1-based).</param>
/// <param name="Step">Optimizer steps taken so far.</param>
/// <param name="LossScale">Dynamic loss scale (float16), 1 otherwise.</param>
/// <param name="History">Metrics of the completed epochs.</param>
internal sealed record CheckpointState(int Epoch, long Step, double LossScale, IReadOnlyList<EpochMetrics> History);

/// <summary>
/// The end-of-epoch checkpoint: float32 master weights and buffers by state_dict name, the optimizer's
/// momentum state, the step counter and the history. Random state needs no saving: every random draw
/// of a step is seeded from (seed, step) and every shuffle from (seed, epoch). Written to a temporary
/// file and renamed, so an interruption never leaves a torn checkpoint.
/// </summary>
internal static class Checkpoint
{
    public const string FileName = "checkpoint.bin";
    private const string Magic = "MLNetCnn.Checkpoint";
    private const int Version = 2; // 2: the library's own optimizer state

    public static string PathIn(string directory) => Path.Combine(directory, FileName);

    public static void Save(string directory, CheckpointState state, MasterWeights masters, nn.Module model, Optimization.MomentumSgd optimizer)
    {
        Directory.CreateDirectory(directory);
        string path = PathIn(directory);
        string temporary = path + ".tmp";
        using (var stream = File.Create(temporary))
        using (var writer = new BinaryWriter(stream))
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
                using var cpu = t.detach().cpu();
                cpu.Save(writer);
            }

            optimizer.Save(writer);
        }

        File.Move(temporary, path, overwrite: true);
    }

    public static CheckpointState Load(string directory, MasterWeights masters, nn.Module model, Optimization.MomentumSgd optimizer)
    {
        string path = PathIn(directory);
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        if (reader.ReadString() != Magic || reader.ReadInt32() is var version && version != Version)
        {
            throw new InvalidDataException($"'{path}' is not a version-{Version} MLNetCnn checkpoint.");
        }

        int epoch = reader.ReadInt32();
        long step = reader.ReadInt64();
        double lossScale = reader.ReadDouble();
        int count = reader.ReadInt32();
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

        using (no_grad())
        {
            for (int i = 0; i < stored; i++)
            {
                string name = reader.ReadString();
                if (!tensors.TryGetValue(name, out var target))
                {
                    throw new InvalidDataException($"Checkpoint '{path}' has tensor '{name}', which the model lacks: it was written for another architecture.");
                }

                using var loaded = TensorExtensionMethods.Load(reader);
                if (!loaded.shape.SequenceEqual(target.shape))
                {
                    throw new InvalidDataException($"Checkpoint tensor '{name}' has shape [{string.Join(", ", loaded.shape)}]; the model expects [{string.Join(", ", target.shape)}].");
                }

                target.copy_(loaded);
            }
        }

        optimizer.Load(reader);
        masters.MastersToLayers();
        return new CheckpointState(epoch, step, lossScale, history);
    }

    /// <summary>What a checkpoint (and the best-epoch copy) holds: the float32 masters and every buffer, by name.</summary>
    internal static List<(string Name, Tensor Tensor)> Tensors(MasterWeights masters, nn.Module model)
    {
        var list = masters.Masters.Select(m => (m.Name, (Tensor)m.Parameter)).ToList();
        list.AddRange(model.named_buffers().Select(b => ("buffer:" + b.name, b.buffer)));
        return list;
    }
}
