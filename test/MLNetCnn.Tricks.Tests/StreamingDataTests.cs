using System.Diagnostics;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Tricks.Augmentation;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Regularization;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Tricks.Tests;

/// <summary>
/// Image sources: streaming and in-memory runs train identically; sizes past int.MaxValue elements;
/// bounded memory; the decoded-image cache; unreadable images mid-stream; cancellation and dispose.
/// </summary>
[TestClass]
public sealed class StreamingDataTests
{
    private static readonly ImageShape Shape = Fixtures.Shape;

    [TestMethod]
    public void StreamingAndInMemoryRunsTrainToIdenticalWeights()
    {
        var (bytes, labels) = Fixtures.HalvesBytes(96, seed: 11);
        var options = new TrainerOptions
        {
            Epochs = 2,
            BatchSize = 16,
            Seed = 5,
            Mixup = new MixupOptions { Alpha = 0.4 },
            Augmentation = new AugmentationOptions { RandomResizedCrop = true, MinArea = 0.5, HorizontalFlipProbability = 0.5 },
            Device = ComputeDevice.Cpu,
        };
        float[] Train(IImageSource source)
        {
            using (source)
            using (var model = Fixtures.TinyResNet(9))
            {
                new ClassifierTrainer(options).Fit(model, source);
                return Fixtures.State(model);
            }
        }

        ImageDecoder decoder = (row, pixels) => bytes.AsSpan(row * Shape.Size, Shape.Size).CopyTo(pixels);
        var streamingOptions = new DataOptions { DecodeParallelism = 3, CacheDecodedImages = true };
        var reference = Train(new ImageDataset(bytes, labels, Shape, 2));
        CollectionAssert.AreEqual(reference, Train(new ImageDataset(Array.ConvertAll(bytes, b => (float)b), labels, Shape, 2)), "float32 in memory");
        CollectionAssert.AreEqual(reference, Train(new StreamingImageSource(Shape, labels, 2, decoder, streamingOptions)), "streamed, decoded on 3 threads, cached");
        var streamed = ImageSources.FromDecoder(Shape, labels, 2, decoder, streamingOptions with { Mode = DataMode.Streaming });
        Assert.IsInstanceOfType<StreamingImageSource>(streamed);
        CollectionAssert.AreEqual(reference, Train(streamed), "streamed by FromDecoder");
        var decoded = ImageSources.FromDecoder(Shape, labels, 2, decoder, streamingOptions);
        Assert.IsInstanceOfType<ImageDataset>(decoded, "a small set fits the default budget");
        CollectionAssert.AreEqual(reference, Train(decoded), "decoded into memory");
    }

    [TestMethod]
    public void ASourceOfMoreThanIntMaxValueValuesIsAcceptedAndTrains()
    {
        // 15,000 RGB images at 224 x 224 are 2.26e9 values: nothing of that size is allocated here.
        var shape = new ImageShape(3, 224, 224);
        var labels = Enumerable.Range(0, 15_000).Select(i => i % 2).ToArray();
        Assert.IsTrue((long)labels.Length * shape.Size > int.MaxValue);
        ImageDecoder decoder = (row, pixels) => pixels.Fill((byte)(row % 251));
        using var source = ImageSources.FromDecoder(shape, labels, 2, decoder, new DataOptions());
        Assert.IsInstanceOfType<StreamingImageSource>(source, "past the 2 GiB default budget the source streams");
        var statistics = source.Statistics(maxImages: 16);
        var sampled = Enumerable.Range(0, 16).Select(i => (i * 15_000 / 16) % 251).ToArray();
        Assert.AreEqual(sampled.Average(), statistics.Mean[0], 1e-3, "the sample spans the rows");
        Assert.AreEqual(sampled.Min(), statistics.Min, "the least value of the sample");
        Assert.AreEqual(sampled.Max(), statistics.Max, "the greatest value of the sample");

        // On disk the rows sit past byte 2^31: 64-bit offsets.
        using var onDisk = ImageDataset.Allocate(labels, shape, 2, ImagePixelType.Byte, Path.GetTempPath());
        var last = Enumerable.Range(0, shape.Size).Select(i => (byte)(i % 7)).ToArray();
        onDisk.WriteImage(14_999, last);
        var back = new byte[shape.Size];
        onDisk.ReadImage(14_999, back);
        CollectionAssert.AreEqual(last, back);
        Assert.AreEqual(15_000L * shape.Size, onDisk.StoredBytes);

        // The trainer takes it: one step, then cancel.
        TorchSharp.torch.manual_seed(1);
        using var model = (ModelRegistry.Get("resnet18").Config with { Width = 0.25 }).Create(new ArchitectureOptions { NumClasses = 2, InputSize = 224 });
        using var cancel = new CancellationTokenSource();
        var progress = new List<TrainingProgress>();
        var trainer = new ClassifierTrainer(new TrainerOptions { Epochs = 1, BatchSize = 2, Device = ComputeDevice.Cpu }, onProgress: p => { progress.Add(p); cancel.Cancel(); });
        Assert.ThrowsExactly<OperationCanceledException>(() => trainer.Fit(model, source, cancellationToken: cancel.Token));
        Assert.AreEqual(1, progress.Count);
        Assert.AreEqual(15_000, progress[0].ImagesInEpoch);
    }

    [TestMethod]
    public void MemoryStaysBoundedWhileThousandsOfImagesStream()
    {
        // 10,000 images of 3 x 128 x 128 are 492 MB as uint8 (2 GB as float32); streaming holds a few batches.
        var shape = new ImageShape(3, 128, 128);
        var labels = Enumerable.Range(0, 10_000).Select(i => i % 3).ToArray();
        ImageDecoder decoder = (row, pixels) => pixels.Fill((byte)row);
        using var source = new StreamingImageSource(shape, labels, 3, decoder, new DataOptions { DecodeParallelism = 2 });
        using (var warmUp = new BatchPrefetcher(source, new[] { 0, 1 }, batchSize: 2, capacity: 1, skippable: null))
        using (TorchSharp.torch.NewDisposeScope())
        {
            warmUp.Batches.Single().Images(shape, TorchSharp.torch.CPU).sum().item<float>(); // libtorch's code pages count as resident once touched
        }

        GC.Collect();
        long rssBefore = ResidentBytes();
        long managedBefore = GC.GetTotalMemory(forceFullCollection: true);
        long peakRss = rssBefore;
        long peakManaged = managedBefore;
        int images = 0;
        var order = Enumerable.Range(0, labels.Length).Reverse().ToArray();
        using (var reader = new BatchPrefetcher(source, order, batchSize: 64, capacity: 4, skippable: null))
        {
            foreach (var batch in reader.Batches)
            {
                using var lease = batch;
                using (TorchSharp.torch.NewDisposeScope()) // as in the training step
                {
                    Assert.AreEqual((float)(byte)order[images], batch.Images(shape, TorchSharp.torch.CPU)[0, 0, 0, 0].item<float>());
                }

                images += batch.Count;
                peakRss = Math.Max(peakRss, ResidentBytes());
                peakManaged = Math.Max(peakManaged, GC.GetTotalMemory(forceFullCollection: false));
            }
        }

        Assert.AreEqual(labels.Length, images);
        const long ceiling = 160L << 20;
        string growth = $"streaming {(long)labels.Length * shape.Size >> 20} MB of images, resident memory grew by {(peakRss - rssBefore) >> 20} MB, managed memory by {(peakManaged - managedBefore) >> 20} MB";
        Assert.IsTrue(peakRss - rssBefore < ceiling, growth);
        Assert.IsTrue(peakManaged - managedBefore < ceiling, growth);
    }

    [TestMethod]
    public void CachedImagesAreNotDecodedAgainInLaterEpochs()
    {
        var (bytes, labels) = Fixtures.HalvesBytes(64, seed: 12);
        int decoded = 0;
        ImageDecoder decoder = (row, pixels) =>
        {
            Interlocked.Increment(ref decoded);
            bytes.AsSpan(row * Shape.Size, Shape.Size).CopyTo(pixels);
        };
        using var source = new StreamingImageSource(Shape, labels, 2, decoder, new DataOptions { CacheDecodedImages = true, CacheDirectory = Path.GetTempPath() });
        Assert.IsNotNull(source.CachePath);
        Assert.IsFalse(File.Exists(source.CachePath) && !OperatingSystem.IsWindows(), "the cache file is unlinked once open");
        var perEpoch = new List<int>();
        using var model = Fixtures.TinyResNet(3);
        new ClassifierTrainer(new TrainerOptions { Epochs = 3, BatchSize = 16, Device = ComputeDevice.Cpu }, onEpoch: _ => perEpoch.Add(Interlocked.Exchange(ref decoded, 0)))
            .Fit(model, source);
        CollectionAssert.AreEqual(new[] { 64, 0, 0 }, perEpoch);
    }

    [TestMethod]
    public void AnImageThatStopsDecodingInEpoch3IsSkippedCountedAndLogged()
    {
        using var files = new FlakyFiles(48, seed: 13);
        var lines = new List<string>();
        var history = files.Train(strict: false, breakAfterEpoch: 2, lines);
        CollectionAssert.AreEqual(new[] { 0, 0, 2, 2 }, history.Select(e => e.SkippedImages).ToArray(), string.Join("\n", lines));
        var skippedLine = lines.Single(l => l.StartsWith("epoch 3/4: skipped 2 unreadable image(s)", StringComparison.Ordinal));
        StringAssert.Contains(skippedLine, files.FileOf(FlakyFiles.Deleted));
        StringAssert.Contains(skippedLine, files.FileOf(FlakyFiles.Truncated));
        StringAssert.Contains(history[2].ToString(), "2 unreadable image(s) skipped");
        Assert.IsTrue(history.All(e => double.IsFinite(e.TrainLoss)));
    }

    [TestMethod]
    public void AnImageThatStopsDecodingInEpoch3FailsWithItsPathWhenStrict()
    {
        using var files = new FlakyFiles(48, seed: 13);
        var lines = new List<string>();
        var error = Assert.ThrowsExactly<InvalidDataException>(() => files.Train(strict: true, breakAfterEpoch: 2, lines));
        Assert.IsTrue(error.Message.Contains(files.FileOf(FlakyFiles.Deleted), StringComparison.Ordinal) || error.Message.Contains(files.FileOf(FlakyFiles.Truncated), StringComparison.Ordinal), error.Message);
        Assert.AreEqual(2, lines.Count(l => l.StartsWith("epoch ", StringComparison.Ordinal) && l.Contains(": loss ", StringComparison.Ordinal)), string.Join("\n", lines));
    }

    [TestMethod]
    public void AnImageThatNeverDecodedFailsTrainingNamingItAlsoWhenNotStrict()
    {
        // Bad input from the start is an error everywhere in the library (ImageFolder.Load, the decode limit);
        // only an image that read before and then stops decoding is skipped.
        using var files = new FlakyFiles(48, seed: 13);
        var error = Assert.ThrowsExactly<InvalidDataException>(() => files.Train(strict: false, breakAfterEpoch: 0, new List<string>()));
        Assert.IsTrue(error.Message.Contains(files.FileOf(FlakyFiles.Deleted), StringComparison.Ordinal) || error.Message.Contains(files.FileOf(FlakyFiles.Truncated), StringComparison.Ordinal), error.Message);
    }

    [TestMethod]
    public void AResumedStreamingRunRepeatsTheUninterruptedInMemoryRun()
    {
        var (bytes, labels) = Fixtures.HalvesBytes(64, seed: 14);
        ImageDecoder decoder = (row, pixels) => bytes.AsSpan(row * Shape.Size, Shape.Size).CopyTo(pixels);
        var options = new TrainerOptions
        {
            Epochs = 3,
            BatchSize = 16,
            Seed = 7,
            Augmentation = new AugmentationOptions { RandomResizedCrop = true, MinArea = 0.5, HorizontalFlipProbability = 0.5 },
            Device = ComputeDevice.Cpu,
        };
        string directory = Directory.CreateTempSubdirectory("mlnetcnn-streaming-resume-").FullName;
        try
        {
            using var straight = Fixtures.TinyResNet(4);
            new ClassifierTrainer(options).Fit(straight, new ImageDataset(bytes, labels, Shape, 2));

            var checkpointed = options with { CheckpointDirectory = directory };
            using (var source = new StreamingImageSource(Shape, labels, 2, decoder, new DataOptions { DecodeParallelism = 2, CacheDecodedImages = true }))
            using (var interrupted = Fixtures.TinyResNet(4))
            using (var stop = new CancellationTokenSource())
            {
                Assert.ThrowsExactly<OperationCanceledException>(() =>
                    new ClassifierTrainer(checkpointed, m => { if (m.Epoch == 1) { stop.Cancel(); } }).Fit(interrupted, source, cancellationToken: stop.Token));
            }

            using var resumed = Fixtures.TinyResNet(99); // other initial weights: everything must come from the checkpoint
            using (var source = new StreamingImageSource(Shape, labels, 2, decoder, new DataOptions { DecodeParallelism = 3 }))
            {
                Assert.AreEqual(3, new ClassifierTrainer(checkpointed with { Resume = true }).Fit(resumed, source).Count);
            }

            CollectionAssert.AreEqual(Fixtures.State(straight), Fixtures.State(resumed), "epochs 2 and 3 streamed in another source repeat the in-memory run");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void CancellationDisposeAndDecoderErrorsNeverHang()
    {
        var labels = Enumerable.Range(0, 400).Select(i => i % 2).ToArray();
        ImageDecoder slow = (row, pixels) =>
        {
            Thread.Sleep(20);
            pixels.Fill(1);
        };

        // Dispose while the producer waits on a full queue and decoders are busy.
        using (var source = new StreamingImageSource(Shape, labels, 2, slow, new DataOptions { DecodeParallelism = 2 }))
        {
            var clock = Stopwatch.StartNew();
            var reader = new BatchPrefetcher(source, Enumerable.Range(0, 400).ToArray(), batchSize: 8, capacity: 2, skippable: null);
            Assert.AreEqual(8, reader.Batches.First().Count);
            Thread.Sleep(200);
            reader.Dispose();
            Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(5), $"dispose took {clock.Elapsed}");
        }

        // A decoder bug (not an unreadable image) reaches the trainer's caller, in either strictness.
        ImageDecoder broken = (row, pixels) =>
        {
            if (row == 37)
            {
                throw new NotSupportedException("decoder bug at row 37");
            }

            pixels.Fill(3);
        };
        using (var source = new StreamingImageSource(Shape, labels, 2, broken))
        using (var model = Fixtures.TinyResNet(5))
        {
            var e = Assert.ThrowsExactly<NotSupportedException>(() => new ClassifierTrainer(new TrainerOptions { Epochs = 1, BatchSize = 32, Device = ComputeDevice.Cpu }).Fit(model, source));
            StringAssert.Contains(e.Message, "row 37");
        }

        // Cancelling while the trainer waits for a slow batch stops training promptly.
        using (var source = new StreamingImageSource(Shape, labels, 2, slow, new DataOptions { DecodeParallelism = 1 }))
        using (var model = Fixtures.TinyResNet(6))
        using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            var clock = Stopwatch.StartNew();
            var e = Assert.ThrowsExactly<OperationCanceledException>(() => new ClassifierTrainer(new TrainerOptions { Epochs = 1, BatchSize = 64, Device = ComputeDevice.Cpu }).Fit(model, source, cancellationToken: cancel.Token));
            StringAssert.Contains(e.Message, "cancelled in epoch 1");
            Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(5), $"cancel took {clock.Elapsed}");
        }
    }

    /// <summary>Images as raw files read by a decoder; after a chosen epoch one is deleted and one truncated.</summary>
    private sealed class FlakyFiles : IDisposable
    {
        public const int Deleted = 7;
        public const int Truncated = 30;
        private readonly string _folder = Directory.CreateTempSubdirectory("mlnetcnn-streaming-").FullName;
        private readonly byte[] _bytes;
        private readonly int[] _labels;

        public FlakyFiles(int count, int seed) => (_bytes, _labels) = Fixtures.HalvesBytes(count, seed);

        public string FileOf(int row) => Path.Combine(_folder, $"{row}.raw");

        /// <summary>Trains 4 epochs streaming the files; they break after epoch <paramref name="breakAfterEpoch"/> (0: before training).</summary>
        public IReadOnlyList<EpochMetrics> Train(bool strict, int breakAfterEpoch, List<string> log)
        {
            for (int row = 0; row < _labels.Length; row++)
            {
                File.WriteAllBytes(FileOf(row), _bytes.AsSpan(row * Shape.Size, Shape.Size).ToArray());
            }

            void Break()
            {
                File.Delete(FileOf(Deleted));
                File.WriteAllBytes(FileOf(Truncated), new byte[5]);
            }

            if (breakAfterEpoch == 0)
            {
                Break();
            }

            using var source = new StreamingImageSource(Shape, _labels, 2, Decode, new DataOptions { DecodeParallelism = 2 });
            using var model = Fixtures.TinyResNet(4);
            var options = new TrainerOptions { Epochs = 4, BatchSize = 16, Device = ComputeDevice.Cpu, Data = new DataOptions { Strict = strict } };
            return new ClassifierTrainer(options, onEpoch: e =>
            {
                if (e.Epoch == breakAfterEpoch)
                {
                    Break();
                }
            }, log: log.Add).Fit(model, source);
        }

        public void Dispose() => Directory.Delete(_folder, recursive: true);

        private void Decode(int row, Span<byte> pixels)
        {
            string path = FileOf(row);
            byte[] data = File.Exists(path) ? File.ReadAllBytes(path) : throw new InvalidDataException($"Image '{path}' cannot be read: it is missing.");
            if (data.Length != pixels.Length)
            {
                throw new InvalidDataException($"Image '{path}' is truncated: {data.Length} bytes.");
            }

            data.CopyTo(pixels);
        }
    }

    private static long ResidentBytes()
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }
}
