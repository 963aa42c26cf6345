using MLNetCnn.Tricks.Data;

namespace MLNetCnn.Tricks.Tests;

/// <summary>
/// Files of pixel rows check their disk's free space before the first write, with the advice that fits what they hold.
/// Found by an outside tester: a large pixel column streamed to a full disk failed only once the disk was full, advising
/// to turn off DataOptions.CacheDecodedImages, which it was not.
/// </summary>
[TestClass]
public sealed class DiskSpaceTests
{
    private static readonly int[] Labels = Enumerable.Range(0, 100).Select(i => i % 2).ToArray();

    [TestMethod]
    public void AColumnTooLargeForItsDiskFailsBeforeAnyWriteWithBothFigures()
    {
        string folder = FreshFolder("column");
        long needed = (long)Labels.Length * Fixtures.Shape.Size * sizeof(float);
        var e = WithFreeSpace(folder, needed - 1, () => Assert.ThrowsExactly<IOException>(() => ImageDataset.Allocate(Labels, Fixtures.Shape, 2, ImagePixelType.Single, folder)));
        StringAssert.Contains(e.Message, FormattableString.Invariant($"100 images x 256 bytes need {needed:N0} bytes"));
        StringAssert.Contains(e.Message, FormattableString.Invariant($"its disk has {needed - 1:N0} bytes"));
        StringAssert.Contains(e.Message, "DataOptions.MemoryBudgetBytes");
        Assert.IsFalse(e.Message.Contains("CacheDecodedImages", StringComparison.Ordinal), "a column is not the decoded-image cache: " + e.Message);
        Assert.AreEqual(0, Directory.GetFiles(folder).Length, "no file was created");

        using var fits = WithFreeSpace(folder, needed, () => ImageDataset.Allocate(Labels, Fixtures.Shape, 2, ImagePixelType.Single, folder));
        Assert.IsTrue(fits.OnDisk);
    }

    [TestMethod]
    public void ACacheTooLargeForItsDiskFailsAtOnceAndAdvisesTurningItOff()
    {
        string folder = FreshFolder("cache");
        long needed = (long)Labels.Length * Fixtures.Shape.Size;
        ImageDecoder decoder = (row, pixels) => pixels.Fill((byte)row);
        var options = new DataOptions { CacheDecodedImages = true, CacheDirectory = folder };
        var e = WithFreeSpace(folder, needed / 2, () => Assert.ThrowsExactly<IOException>(() => new StreamingImageSource(Fixtures.Shape, Labels, 2, decoder, options)));
        StringAssert.Contains(e.Message, "the cache of decoded images");
        StringAssert.Contains(e.Message, FormattableString.Invariant($"need {needed:N0} bytes"));
        StringAssert.Contains(e.Message, "turn off DataOptions.CacheDecodedImages");
    }

    [TestMethod]
    public void AnUnknownFreeSpaceLetsTheFileBeWritten()
    {
        // Where the free space cannot be known, writing goes ahead and a full disk is reported by the write.
        string folder = FreshFolder("unknown");
        using var dataset = WithFreeSpace(folder, null, () => ImageDataset.Allocate(Labels, Fixtures.Shape, 2, ImagePixelType.Byte, folder));
        var row = Enumerable.Range(0, Fixtures.Shape.Size).Select(i => (byte)i).ToArray();
        dataset.WriteImage(99, row);
        var back = new byte[row.Length];
        dataset.ReadImage(99, back);
        CollectionAssert.AreEqual(row, back);
    }

    private static string FreshFolder(string name)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"mlnetcnn-disk-space-{Environment.ProcessId}", name);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <summary>Runs <paramref name="action"/> while the free-space probe reports <paramref name="free"/> for <paramref name="folder"/> alone.</summary>
    private static T WithFreeSpace<T>(string folder, long? free, Func<T> action)
    {
        var real = FilePixelStore.FreeSpace;
        FilePixelStore.FreeSpace = directory => directory == folder ? free : real(directory);
        try
        {
            return action();
        }
        finally
        {
            FilePixelStore.FreeSpace = real;
        }
    }
}
