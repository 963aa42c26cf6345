using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.TestSupport;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Found by an outside sweep of crafted model files: a graph input rewritten to another shape loaded (the service then
/// died at its first engine, or answered 500 to every request for a dimension of -5); an entry declaring 0x7FFFFFF0 bytes
/// was an OutOfMemoryException; a 1 MB zip inflating to 1 GiB peaked at 2.16 GB before it was refused, and a Model.key
/// followed by 3 GiB of zeros loaded after 30 s; a graph ML.NET refuses named no cause and left its temporary copy.
/// Each is now one <see cref="InvalidDataException"/> naming the zip, quickly, and nothing is left in the temp folder.
/// </summary>
[TestClass]
public sealed class HostileModelZipTests
{
    private static readonly string Folder = Directory.CreateTempSubdirectory("mlnetcnn-hostile-").FullName;
    private static string _model = string.Empty;

    public TestContext TestContext { get; set; } = null!;

    [ClassInitialize]
    public static void TrainModel(TestContext context) => _model = LoadModelIntegrityTests.Train(["a", "b", "c"], Folder);

    [ClassCleanup]
    public static void DeleteFolder() => Directory.Delete(Folder, recursive: true);

    [TestMethod]
    public void AGraphInputOfAnotherShapeIsRefusedSayingWhatTheGraphTakesAndTheStepsGive()
    {
        // 256 and 128 values where the steps give 64 (ONNX Runtime loads both: the graph's first Reshape makes a batch of them).
        foreach (long[] shape in new long[][] { [1, 1, 16, 16], [1, 128] })
        {
            var e = RefusedLeavingNothing(Craft($"input-{shape.Length}.zip", OnnxGraphEdit.Input, shape));
            StringAssert.Contains(e.Message, $"shape [{string.Join(", ", shape)}] ({shape.Aggregate((a, b) => a * b)} values a row)");
            StringAssert.Contains(e.Message, "give 64 values a row");
        }
    }

    [TestMethod]
    public void ADimensionNeitherPositiveNorMinusOneIsRefusedButAVaryingBatchAxisLoads()
    {
        var e = RefusedLeavingNothing(Craft("input-minus5.zip", OnnxGraphEdit.Input, 1, -5, 64));
        StringAssert.Contains(e.Message, "dimension 1 is -5");
        StringAssert.Contains(RefusedLeavingNothing(Craft("input-0.zip", OnnxGraphEdit.Input, 1, 0)).Message, "dimension 1 is 0");

        // Earlier versions saved the graph with a batch axis of -1: it still loads and scores as the model does.
        var ml = new MLContext();
        var probe = TestData.Build(ml, [new TestData.FloatRow { Label = "a", Features = Enumerable.Range(0, 64).Select(j => (float)(j * 5 % 255)).ToArray() }], 64, ["a", "b", "c"]);
        float[] expected = Score(ml, _model, probe);
        float[] actual = Score(ml, Craft("batch-axis.zip", OnnxGraphEdit.Input, -1, 64), probe);
        Assert.HasCount(expected.Length, actual);
        for (int i = 0; i < expected.Length; i++)
        {
            // ONNX Runtime may take another kernel for a varying batch axis than for a batch of 1: a few units in the last place.
            Assert.AreEqual(expected[i], actual[i], 1e-6f, $"score {i}");
        }
    }

    [TestMethod]
    public void AnOutputMLNetCannotTypeIsRefusedBeforeMLNetCopiesTheGraph()
    {
        var e = RefusedLeavingNothing(Craft("score-huge.zip", OnnxGraphEdit.Output, 1L << 40));
        StringAssert.Contains(e.Message, "output 'Score' of shape [1099511627776]");
    }

    [TestMethod]
    public void AGraphMLNetRefusesNamesTheCauseAndLeavesNoTemporaryFile()
    {
        // ONNX Runtime loads a graph whose output is renamed; ML.NET then fails after copying it, in the transformer's constructor.
        string crafted = Path.Combine(Folder, "renamed-output.zip");
        OnnxGraphEdit.RenameInGraph(_model, crafted, "Score", "Scorf");
        var e = RefusedLeavingNothing(crafted);
        StringAssert.Contains(e.Message, "Score");
        Assert.DoesNotEndWith("Error during class instantiation", e.Message.TrimEnd('.'), e.Message);
    }

    [TestMethod]
    public void AnEntryDeclaringMoreThanAnArrayHoldsIsRefusedNamingTheZip()
    {
        string crafted = Path.Combine(Folder, "declared-2g.zip");
        File.Copy(_model, crafted, overwrite: true);
        OnnxGraphEdit.DeclareLength(crafted, "/OnnxModel", 0x7FFFFFF0);
        var e = RefusedLeavingNothing(crafted);
        StringAssert.Contains(e.Message, "/OnnxModel");
    }

    [TestMethod]
    public void ZipBombsAreRefusedUnreadWithLittleMemory()
    {
        const int Zeros = 64 * 1024 * 1024;
        var graphBomb = new byte[Zeros];
        BinaryPrimitives.WriteInt32LittleEndian(graphBomb, Zeros - 4); // a length prefix that agrees, so only the size can tell
        foreach (var (name, suffix, content) in new[] { ("graph-bomb.zip", "/OnnxModel", graphBomb), ("key-bomb.zip", "Transform_000/Model.key", null) })
        {
            string crafted = Path.Combine(Folder, name);
            File.Copy(_model, crafted, overwrite: true);
            using (var archive = ZipFile.Open(crafted, ZipArchiveMode.Update))
            {
                var entry = archive.Entries.First(e => e.FullName.EndsWith(suffix, StringComparison.Ordinal));
                byte[] bytes = content ?? [.. Read(entry), .. new byte[Zeros]]; // ML.NET reads a Model.key and ignores what follows
                string entryName = entry.FullName;
                entry.Delete();
                using var stream = archive.CreateEntry(entryName, CompressionLevel.SmallestSize).Open();
                stream.Write(bytes);
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = RefusedLeavingNothing(crafted);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            StringAssert.Contains(e.Message, "zip bomb");
            StringAssert.Contains(e.Message, suffix);
            Assert.IsLessThan(8L << 20, allocated, $"{name}: {allocated} bytes allocated to refuse it");
        }
    }

    /// <summary>Loads <paramref name="crafted"/> with a temp folder of its own, which must stay empty; the error must name the zip.</summary>
    private static InvalidDataException RefusedLeavingNothing(string crafted)
    {
        string temp = Directory.CreateTempSubdirectory("mlnetcnn-hostile-temp-").FullName;
        try
        {
            var ml = new MLContext { TempFilePath = temp };
            var e = Assert.ThrowsExactly<InvalidDataException>(() => ml.Cnn().LoadModel(crafted, out _));
            StringAssert.Contains(e.Message, crafted);
            CollectionAssert.AreEqual(Array.Empty<string>(), Directory.GetFiles(temp), $"nothing left in the temp folder after: {e.Message}");
            return e;
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    private static string Craft(string name, int field, params long[] dimensions)
    {
        string crafted = Path.Combine(Folder, name);
        OnnxGraphEdit.SetShape(_model, crafted, field, dimensions);
        return crafted;
    }

    private static float[] Score(MLContext ml, string zip, IDataView probe)
    {
        var model = ml.Cnn().LoadModel(zip, out _);
        try
        {
            return model.Transform(probe).GetColumn<float[]>("Score").Single();
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    private static byte[] Read(ZipArchiveEntry entry)
    {
        using var stream = entry.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
