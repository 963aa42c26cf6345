using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Estimators.Data;

namespace MLNetCnn.Estimators.Tests;

[TestClass]
public sealed class DataTests
{
    private readonly MLContext _ml = new(seed: 1);

    [TestMethod]
    public void EmbeddedSubsetIsStratifiedWithKeyLabelsNamedAfterTheClasses()
    {
        var train = FashionMnist.Load(_ml, FashionMnistSplit.Train, FashionMnistSource.Embedded);
        var test = FashionMnist.Load(_ml, FashionMnistSplit.Test, FashionMnistSource.Embedded);

        var label = train.Schema["Label"];
        Assert.AreEqual(10UL, ((KeyDataViewType)label.Type).Count);
        VBuffer<ReadOnlyMemory<char>> names = default;
        label.GetKeyValues(ref names);
        CollectionAssert.AreEqual(FashionMnist.ClassNames.ToList(), names.DenseValues().Select(n => n.ToString()).ToList());
        Assert.AreEqual(784, ((VectorDataViewType)train.Schema["Features"].Type).Size);

        var trainLabels = train.GetColumn<uint>("Label").ToList();
        var testLabels = test.GetColumn<uint>("Label").ToList();
        Assert.AreEqual(6000, trainLabels.Count);
        Assert.AreEqual(1000, testLabels.Count);
        Assert.IsTrue(trainLabels.GroupBy(l => l).All(g => g.Count() == 600));
        Assert.IsTrue(testLabels.GroupBy(l => l).All(g => g.Count() == 100));

        var pixels = train.GetColumn<float[]>("Features").Take(100).SelectMany(p => p).ToList();
        Assert.AreEqual(0f, pixels.Min());
        Assert.AreEqual(255f, pixels.Max());
    }

    [TestMethod]
    public void GzipAndRawIdxFilesReadTheSame()
    {
        string dir = Directory.CreateTempSubdirectory("mlnetcnn-idx").FullName;
        try
        {
            byte[] idx = { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
            File.WriteAllBytes(Path.Combine(dir, "raw"), idx);
            using (var gz = new GZipStream(File.Create(Path.Combine(dir, "raw.gz")), CompressionLevel.Optimal))
            {
                gz.Write(idx);
            }

            var raw = IdxReader.Read(Path.Combine(dir, "raw"));
            var zipped = IdxReader.Read(Path.Combine(dir, "raw.gz"));
            CollectionAssert.AreEqual(new[] { 2, 2, 3 }, raw.Dimensions.ToArray());
            CollectionAssert.AreEqual(raw.Data, zipped.Data);
            CollectionAssert.AreEqual(Enumerable.Range(1, 12).Select(i => (byte)i).ToArray(), raw.Data);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void FullSetIsUsedWhenInstalled()
    {
        if (!FashionMnist.IsFullSetInstalled)
        {
            if (Environment.GetEnvironmentVariable("CI") == "true")
            {
                Assert.Fail($"CI must install the full set: apt-get install dataset-fashion-mnist ({FashionMnist.DefaultDirectory}).");
            }

            Assert.Inconclusive($"Fashion-MNIST is not installed at {FashionMnist.DefaultDirectory}.");
        }

        var train = FashionMnist.Load(_ml, FashionMnistSplit.Train);
        var test = FashionMnist.Load(_ml, FashionMnistSplit.Test, FashionMnistSource.Full);
        Assert.AreEqual(60000, train.GetColumn<uint>("Label").Count());
        Assert.AreEqual(10000, test.GetColumn<uint>("Label").Count());
        Assert.AreEqual(6000, FashionMnist.Load(_ml, FashionMnistSplit.Train, FashionMnistSource.Embedded).GetColumn<uint>("Label").Count());
    }
}
