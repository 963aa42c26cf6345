using System.IO.Compression;
using MLNetCnn.Estimators.Data;

namespace MLNetCnn.Estimators.Tests;

/// <summary>An IDX file is read as far as its header declares, never further: a gzip bomb or a lying header costs no memory.</summary>
[TestClass]
public sealed class IdxLimitTests
{
    private string _dir = string.Empty;

    [TestInitialize]
    public void CreateFolder() => _dir = Directory.CreateTempSubdirectory("mlnetcnn-idx-limit").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    [TestMethod]
    public void GzipBombIsRefusedWithoutInflatingIt()
    {
        // One 2x2 image declared, then 40 MiB of zeros (40 KB compressed): the old reader inflated all of it first.
        string bomb = Path.Combine(_dir, "train-images-idx3-ubyte.gz");
        using (var gzip = new GZipStream(File.Create(bomb), CompressionLevel.Fastest))
        {
            gzip.Write(new byte[] { 0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2 });
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 40; i++)
            {
                gzip.Write(zeros);
            }
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.Read(bomb));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        StringAssert.Contains(e.Message, bomb);
        StringAssert.Contains(e.Message, "1x2x2 = 4 bytes");
        StringAssert.Contains(e.Message, $"found more than {4 + IdxReader.TrailingBytesChecked}");
        Assert.IsLessThan(8L << 20, allocated, $"allocated {allocated} bytes");
    }

    [TestMethod]
    public void DataLongerThanDeclaredIsRefusedWithBothSizes()
    {
        string longer = Path.Combine(_dir, "labels.idx");
        File.WriteAllBytes(longer, new byte[] { 0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 0, 1, 1 });
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.Read(longer));
        StringAssert.Contains(e.Message, longer);
        StringAssert.Contains(e.Message, "3 = 3 bytes");
        StringAssert.Contains(e.Message, "found 5");
    }

    [TestMethod]
    public void HeaderDeclaringGigabytesInATinyFileAllocatesOnlyWhatIsFound()
    {
        // 40000 x 224 x 224 = 2,007,040,000 bytes declared, 10 found.
        string liar = Path.Combine(_dir, "liar.idx");
        File.WriteAllBytes(liar, new byte[] { 0, 0, 8, 3, 0, 0, 0x9c, 0x40, 0, 0, 0, 224, 0, 0, 0, 224, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 });
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.Read(liar));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        StringAssert.Contains(e.Message, "40000x224x224 = 2007040000 bytes");
        StringAssert.Contains(e.Message, "found 10");
        Assert.IsLessThan(64L << 20, allocated, $"allocated {allocated} bytes");

        File.WriteAllBytes(liar, new byte[] { 0, 0, 8, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0 });
        e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.Read(liar));
        StringAssert.Contains(e.Message, "more than one array holds");
    }

    [TestMethod]
    public void StreamThatCannotSeekIsReadLikeAFile()
    {
        byte[] idx = { 0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 5, 6, 7, 8 };
        var zipped = new MemoryStream();
        using (var gzip = new GZipStream(zipped, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(idx);
        }

        foreach (var bytes in new[] { idx, zipped.ToArray() })
        {
            var read = IdxReader.Read(new ForwardOnlyStream(bytes), "stream");
            CollectionAssert.AreEqual(new[] { 2, 2 }, read.Dimensions.ToArray());
            CollectionAssert.AreEqual(new byte[] { 5, 6, 7, 8 }, read.Data);
        }
    }

    private sealed class ForwardOnlyStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;

        public override long Seek(long offset, SeekOrigin loc) => throw new NotSupportedException();
    }
}
