using System.Buffers.Binary;
using System.Security.Cryptography;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Tricks.Tests;

/// <summary>
/// Issue 11, row 6: a checkpoint carries a SHA-256 of its contents. A damaged one is never resumed from: the run
/// falls back to the previous good checkpoint and says so, or stops with an error naming the file; a corrupted
/// count is an error, not an <see cref="OutOfMemoryException"/>.
/// </summary>
[TestClass]
public sealed class CheckpointIntegrityTests
{
    private static readonly TrainerOptions Options = new()
    {
        Epochs = 3,
        BatchSize = 16,
        Seed = 3,
        Device = ComputeDevice.Cpu,
    };

    private string _directory = string.Empty;

    [TestInitialize]
    public void CreateFolder() => _directory = Directory.CreateTempSubdirectory("mlnetcnn-checkpoint-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(_directory, recursive: true);

    private string Current => Path.Combine(_directory, "checkpoint.bin");

    private string Previous => Path.Combine(_directory, "checkpoint.prev.bin");

    [TestMethod]
    public void ADamagedCheckpointFallsBackToThePreviousOneAndSaysSo()
    {
        var data = Fixtures.Halves(64, seed: 4);
        using var straight = Fixtures.TinyResNet(4);
        new ClassifierTrainer(Options).Fit(straight, data);

        StopAfterEpoch(2, data);
        Assert.IsTrue(File.Exists(Previous), "the epoch-1 checkpoint is kept beside the epoch-2 one");
        Overwrite(Current, at: new FileInfo(Current).Length / 2, count: 4096);

        using var resumed = Fixtures.TinyResNet(99);
        var lines = new List<string>();
        var history = new ClassifierTrainer(Options with { CheckpointDirectory = _directory, Resume = true }, log: lines.Add).Fit(resumed, data);
        string log = string.Join('\n', lines);
        Assert.IsTrue(lines.Any(l => l.Contains(Current, StringComparison.Ordinal) && l.Contains("damaged", StringComparison.Ordinal)), log);
        Assert.IsTrue(lines.Any(l => l.Contains(Previous, StringComparison.Ordinal) && l.Contains("after epoch 1", StringComparison.Ordinal)), log);
        Assert.AreEqual(3, history.Count);
        CollectionAssert.AreEqual(Fixtures.State(straight), Fixtures.State(resumed), "the run repeated epoch 2 from the good checkpoint and ended where the uninterrupted one did");
    }

    [TestMethod]
    public void ATruncatedCheckpointWithNoGoodPreviousOneIsRefusedNamingIt()
    {
        var data = Fixtures.Halves(32, seed: 5);
        StopAfterEpoch(1, data);
        Assert.IsFalse(File.Exists(Previous));
        var bytes = File.ReadAllBytes(Current);
        File.WriteAllBytes(Current, bytes[..(bytes.Length * 2 / 3)]);

        using var model = Fixtures.TinyResNet(1);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => new ClassifierTrainer(Options with { CheckpointDirectory = _directory, Resume = true }).Fit(model, data));
        StringAssert.Contains(e.Message, Current);
    }

    [TestMethod]
    public void ACorruptedCountIsAnErrorNotAnOutOfMemory()
    {
        // Layout: the magic string (1 + 19 bytes), version, epoch (ints), step (long), loss scale (double), then the
        // history count. The count is set to int.MaxValue and the trailing SHA-256 recomputed, as a crafted file would.
        var data = Fixtures.Halves(32, seed: 6);
        StopAfterEpoch(1, data);
        var bytes = File.ReadAllBytes(Current);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(20 + 4 + 4 + 8 + 8), int.MaxValue);
        SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32), bytes.AsSpan(bytes.Length - 32));
        File.WriteAllBytes(Current, bytes);

        using var model = Fixtures.TinyResNet(1);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => new ClassifierTrainer(Options with { CheckpointDirectory = _directory, Resume = true }).Fit(model, data));
        StringAssert.Contains(e.Message, Current);
        StringAssert.Contains(e.Message, "history");
    }

    /// <summary>
    /// An outside sweep: a CheckpointDirectory that is a file (or cannot be written) failed at the end of the first epoch
    /// with "The file ... already exists", naming no option, and the epoch was lost.
    /// </summary>
    [TestMethod]
    public void ACheckpointFolderThatCannotBeWrittenIsRefusedBeforeTheFirstEpoch()
    {
        string file = Path.Combine(_directory, "not-a-folder");
        File.WriteAllText(file, "x");
        int epochs = 0;
        using var model = Fixtures.TinyResNet(1);
        var e = Assert.ThrowsExactly<IOException>(() => new ClassifierTrainer(Options with { CheckpointDirectory = file }, _ => epochs++).Fit(model, Fixtures.Halves(32, seed: 2)));
        StringAssert.Contains(e.Message, $"CheckpointDirectory '{file}'");
        Assert.AreEqual(0, epochs, "refused before training");
    }

    /// <summary>
    /// An outside sweep: resumed with fewer Epochs than the checkpoint had trained, the run returned the checkpoint's
    /// model, trained for more epochs than asked, without a word; resumed with a larger batch, it went on from the
    /// checkpoint's step counter, past where this run's schedule was, also without a word.
    /// </summary>
    [TestMethod]
    public void ResumingACheckpointPastThisRunsEpochsIsRefused()
    {
        var data = Fixtures.Halves(32, seed: 7);
        StopAfterEpoch(2, data);
        using var model = Fixtures.TinyResNet(1);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new ClassifierTrainer(Options with { Epochs = 1, CheckpointDirectory = _directory, Resume = true }).Fit(model, data));
        StringAssert.Contains(e.Message, "after epoch 2");
        StringAssert.Contains(e.Message, "Epochs 1");

        // Another batch size, larger or smaller, continues with a warning: the checkpoint records its batch size.
        foreach (int batch in new[] { 32, 8 })
        {
            var lines = new List<string>();
            using var resumed = Fixtures.TinyResNet(1);
            new ClassifierTrainer(Options with { BatchSize = batch, CheckpointDirectory = _directory, Resume = true }, log: lines.Add).Fit(resumed, data);
            Assert.IsTrue(lines.Any(l => l.StartsWith($"warning: the checkpoint's run had BatchSize {Options.BatchSize} and this one has {batch}", StringComparison.Ordinal)), string.Join('\n', lines));
            StopAfterEpoch(2, data);
        }
    }

    [TestMethod]
    public void AVersion3CheckpointResumesAndAnUnknownVersionIsNamed()
    {
        // Version 4 appends early stopping's best epoch and the batch size after the optimizer. A version-3 file (this
        // run's without them) still resumes, and the run ends where the uninterrupted one does.
        var data = Fixtures.Halves(64, seed: 8);
        using var straight = Fixtures.TinyResNet(4);
        new ClassifierTrainer(Options).Fit(straight, data);
        StopAfterEpoch(2, data);
        var bytes = File.ReadAllBytes(Current);
        Assert.AreEqual(4, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(20)), "written as version 4");
        var payload = bytes[..^32];
        Assert.AreEqual(Options.BatchSize, BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(payload.Length - 4)), "the batch size, last");
        Assert.AreEqual(0, BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(payload.Length - 8)), "no best epoch without early stopping");
        File.WriteAllBytes(Current, Rehashed(payload[..^8], version: 3));

        using var resumed = Fixtures.TinyResNet(99);
        new ClassifierTrainer(Options with { CheckpointDirectory = _directory, Resume = true }).Fit(resumed, data);
        CollectionAssert.AreEqual(Fixtures.State(straight), Fixtures.State(resumed));

        // A newer version than this build reads: named, rather than "bytes after its contents".
        File.WriteAllBytes(Current, Rehashed(payload, version: 5));
        File.Delete(Previous);
        using var model = Fixtures.TinyResNet(1);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => new ClassifierTrainer(Options with { CheckpointDirectory = _directory, Resume = true }).Fit(model, data));
        StringAssert.Contains(e.Message, "is not an MLNetCnn checkpoint of version 3 to 4");
    }

    /// <summary>A checkpoint of <paramref name="payload"/> with its version set and its SHA-256 trailer recomputed.</summary>
    private static byte[] Rehashed(byte[] payload, int version)
    {
        var bytes = new byte[payload.Length + 32];
        payload.CopyTo(bytes, 0);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(20), version);
        SHA256.HashData(bytes.AsSpan(0, payload.Length), bytes.AsSpan(payload.Length));
        return bytes;
    }

    private void StopAfterEpoch(int epoch, MLNetCnn.Tricks.Data.ImageDataset data)
    {
        using var model = Fixtures.TinyResNet(4);
        using var stop = new CancellationTokenSource();
        Assert.ThrowsExactly<OperationCanceledException>(() =>
            new ClassifierTrainer(Options with { CheckpointDirectory = _directory }, m => { if (m.Epoch == epoch) { stop.Cancel(); } }).Fit(model, data, cancellationToken: stop.Token));
    }

    private static void Overwrite(string path, long at, int count)
    {
        var bytes = File.ReadAllBytes(path);
        new Random(7).NextBytes(bytes.AsSpan((int)at, count));
        File.WriteAllBytes(path, bytes);
    }
}
