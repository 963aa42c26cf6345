using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MLNetCnn.Architectures.Weights;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Tests;

/// <summary>
/// Issue 11, row 7 and the .pth bombs of row 3: the weights readers bound every allocation by the file and the
/// tensors it declares, and every malformed file is an <see cref="InvalidDataException"/> that names it; libtorch
/// never sees an invalid view.
/// </summary>
[TestClass]
public sealed class MalformedWeightsTests
{
    private string _dir = string.Empty;

    [TestInitialize]
    public void CreateFolder() => _dir = Directory.CreateTempSubdirectory("mlnetcnn-malformed-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    [TestMethod]
    public void TheHandWrittenCheckpointReadsBack()
    {
        string path = Path.Combine(_dir, "valid.pth");
        PthFiles.WriteValid(path);
        var tensors = TorchCheckpoint.ReadStateDict(path);
        try
        {
            CollectionAssert.AreEqual(new float[] { 0, 1, 2, 3, 4, 5 }, tensors["conv.weight"].data<float>().ToArray());
            CollectionAssert.AreEqual(new long[] { 2, 3 }, tensors["conv.weight"].shape);
            CollectionAssert.AreEqual(new float[] { 12, 13, 14, 15 }, tensors["fc.bias"].data<float>().ToArray());
            Assert.AreEqual(0, tensors["scale"].dim());
            Assert.AreEqual(0.5f, tensors["scale"].item<float>());
        }
        finally
        {
            Dispose(tensors);
        }
    }

    [TestMethod]
    public void AStorageEntryLargerThanItsTensorsNeedIsRefusedUnread()
    {
        // The entry inflates to 64 MiB of zeros while the pickle declares a 6-float storage: a zip bomb.
        string path = Path.Combine(_dir, "bomb.pth");
        var storages = PthFiles.ValidStorages();
        storages["0"] = new byte[64 << 20];
        PthFiles.Write(path, PthFiles.Pickle(PthFiles.ValidTensors()), storages, deflate: true);
        Assert.IsTrue(new FileInfo(path).Length < 1 << 20, "the bomb is small on disk");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TorchCheckpoint.ReadStateDict(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "archive/data/0");
        StringAssert.Contains(e.Message, "24 bytes");
    }

    [TestMethod]
    public void AStorageDeclaringMoreThanTheFileCanHoldIsRefusedBeforeAllocating()
    {
        // 2^40 floats (4 TiB) declared in a file of a few hundred bytes.
        string path = Path.Combine(_dir, "huge.pth");
        var tensors = PthFiles.ValidTensors();
        tensors[0] = tensors[0] with { StorageElements = 1L << 40, Size = [1L << 20, 1L << 20], Stride = [1L << 20, 1] };
        PthFiles.Write(path, PthFiles.Pickle(tensors), PthFiles.ValidStorages());
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TorchCheckpoint.ReadStateDict(path));
        StringAssert.Contains(e.Message, path);
    }

    [TestMethod]
    [DataRow("out of bounds", 0L, new long[] { 3, 3 }, new long[] { 3, 1 }, "storage of 6")]
    [DataRow("offset past the end", 7L, new long[] { 1 }, new long[] { 1 }, "storage of 6")]
    [DataRow("negative stride", 0L, new long[] { 2, 3 }, new long[] { -3, 1 }, "stride")]
    [DataRow("negative size", 0L, new long[] { -2, 3 }, new long[] { 3, 1 }, "size")]
    [DataRow("negative offset", -1L, new long[] { 2 }, new long[] { 1 }, "offset")]
    [DataRow("overflowing shape", 0L, new long[] { 1L << 62, 1L << 62 }, new long[] { 0, 0 }, "size")]
    [DataRow("overflowing extent", 0L, new long[] { 2, 2 }, new long[] { 1L << 62, 1L << 62 }, "storage of 6")]
    [DataRow("rank mismatch", 0L, new long[] { 2, 3 }, new long[] { 1 }, "stride")]
    public void AnInvalidViewIsRefusedBeforeLibtorchSeesIt(string what, long offset, long[] size, long[] stride, string expected)
    {
        string path = Path.Combine(_dir, "view.pth");
        var tensors = PthFiles.ValidTensors();
        tensors[0] = tensors[0] with { Offset = offset, Size = size, Stride = stride };
        PthFiles.Write(path, PthFiles.Pickle(tensors), PthFiles.ValidStorages());
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TorchCheckpoint.ReadStateDict(path), what);
        StringAssert.Contains(e.Message, path, what);
        StringAssert.Contains(e.Message, "conv.weight", what);
        StringAssert.Contains(e.Message, expected, what);
    }

    [TestMethod]
    public void AMissingMemoEntryIsInvalidData()
    {
        string path = Path.Combine(_dir, "memo.pth");
        var pickle = PthFiles.Pickle(PthFiles.ValidTensors());
        int get = pickle.AsSpan().IndexOf("h\0)R"u8); // BINGET 0, EMPTY_TUPLE, REDUCE: the OrderedDict() of a tensor's hooks
        Assert.IsTrue(get > 0);
        pickle[get + 1] = 9; // BINGET 9: never memoized
        PthFiles.Write(path, pickle, PthFiles.ValidStorages());
        var e = Assert.ThrowsExactly<InvalidDataException>(() => TorchCheckpoint.ReadStateDict(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "memo");
    }

    [TestMethod]
    [DataRow("[1, 2, 3]", "JSON object")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 16]}}", "shape")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1, -4], \"data_offsets\": [0, 16]}}", "shape")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", "data_offsets")]
    [DataRow("{\"w\": {\"dtype\": \"F32\", \"shape\": [2]}}", "data_offsets")]
    [DataRow("{\"w\": {\"dtype\": 5, \"shape\": [2], \"data_offsets\": [0, 8]}}", "dtype")]
    [DataRow("{\"w\": [1]}", "w")]
    [DataRow("{\"__metadata__\": [1]}", "__metadata__")]
    [DataRow("{\"__metadata__\": {\"a\": 1}}", "__metadata__")]
    public void AMalformedSafetensorsHeaderIsInvalidData(string header, string expected)
    {
        string path = Path.Combine(_dir, "bad.safetensors");
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + 16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Read(path), header);
        StringAssert.Contains(e.Message, path, header);
        StringAssert.Contains(e.Message, expected, header);
    }

    [TestMethod]
    public void MutatedFilesAreReadOrRefusedWithInvalidDataOnly()
    {
        // Truncations and byte flips of a valid .pth (the zip as a whole, and the pickle inside a valid zip) and of a
        // valid safetensors file: each either reads or is an InvalidDataException naming the file, nothing else.
        string pth = Path.Combine(_dir, "valid.pth");
        PthFiles.WriteValid(pth);
        string safetensors = Path.Combine(_dir, "valid.safetensors");
        using (var a = arange(6, dtype: ScalarType.Float32).reshape(2, 3))
        using (var b = ones(4))
        {
            SafeTensors.Write(safetensors, new Dictionary<string, Tensor> { ["conv.weight"] = a, ["fc.bias"] = b }, new Dictionary<string, string> { ["arch"] = "x" });
        }

        var random = new Random(11);
        var pickle = PthFiles.Pickle(PthFiles.ValidTensors());
        string mutated = Path.Combine(_dir, "mutated");
        int refused = 0, read = 0;
        for (int i = 0; i < 600; i++)
        {
            int kind = i % 3;
            string path = mutated + (kind == 2 ? ".safetensors" : ".pth");
            if (kind == 1)
            {
                PthFiles.Write(path, Mutate(pickle, random), PthFiles.ValidStorages());
            }
            else
            {
                File.WriteAllBytes(path, Mutate(File.ReadAllBytes(kind == 0 ? pth : safetensors), random));
            }

            try
            {
                Dispose(PretrainedWeights.Read(path).Tensors);
                read++;
            }
            catch (InvalidDataException e)
            {
                StringAssert.Contains(e.Message, path, $"mutation {i}");
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"mutation {i} ({Path.GetExtension(path)}) raised {e.GetType().Name}, not InvalidDataException: {e.Message}");
            }
        }

        Assert.IsTrue(refused > 300, $"{refused} refused, {read} read");
    }

    private static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = original.ToArray();
        if (random.Next(3) == 0)
        {
            return bytes[..random.Next(bytes.Length)];
        }

        for (int flips = random.Next(1, 4); flips > 0; flips--)
        {
            int at = random.Next(bytes.Length);
            bytes[at] = random.Next(2) == 0 ? (byte)(bytes[at] ^ (1 << random.Next(8))) : (byte)random.Next(256);
        }

        return bytes;
    }

    private static void Dispose(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values)
        {
            t.Dispose();
        }
    }
}
