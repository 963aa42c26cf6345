using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace MLNetCnn.Architectures.Tests;

/// <summary>One tensor of a hand-written .pth: its storage key, element count, and the view onto it.</summary>
internal sealed record PthTensor(string Name, string StorageKey, long StorageElements, long Offset, long[] Size, long[] Stride);

/// <summary>
/// Writes torch.save's zip format by hand (as PyTorch 1.6+ does: <c>archive/data.pkl</c>, a protocol-2 pickle of an
/// OrderedDict of <c>_rebuild_tensor_v2</c> calls, and one stored <c>archive/data/&lt;key&gt;</c> entry per float32
/// storage), so tests can build valid files and precise malformations without PyTorch.
/// </summary>
internal static class PthFiles
{
    /// <summary>The pickle of a state_dict holding <paramref name="tensors"/> (float32 storages).</summary>
    public static byte[] Pickle(IEnumerable<PthTensor> tensors)
    {
        var p = new List<byte> { 0x80, 2 };
        Global(p, "collections", "OrderedDict");
        p.AddRange([(byte)'q', 0, (byte)')', (byte)'R', (byte)'q', 1, (byte)'(']);
        bool first = true;
        foreach (var t in tensors)
        {
            Unicode(p, t.Name);
            if (first)
            {
                Global(p, "torch._utils", "_rebuild_tensor_v2");
                p.AddRange([(byte)'q', 2]);
            }
            else
            {
                p.AddRange([(byte)'h', 2]);
            }

            p.Add((byte)'(');
            p.Add((byte)'(');
            Unicode(p, "storage");
            if (first)
            {
                Global(p, "torch", "FloatStorage");
                p.AddRange([(byte)'q', 3]);
            }
            else
            {
                p.AddRange([(byte)'h', 3]);
            }

            Unicode(p, t.StorageKey);
            Unicode(p, "cpu");
            Int(p, t.StorageElements);
            p.Add((byte)'t');
            p.Add((byte)'Q');
            Int(p, t.Offset);
            Tuple(p, t.Size);
            Tuple(p, t.Stride);
            p.Add(0x89);
            p.AddRange([(byte)'h', 0, (byte)')', (byte)'R']);
            p.Add((byte)'t');
            p.Add((byte)'R');
            first = false;
        }

        p.AddRange([(byte)'u', (byte)'.']);
        return p.ToArray();
    }

    /// <summary>Writes a zip with <c>archive/data.pkl</c> and the given storage entries (stored, or deflated when <paramref name="deflate"/>).</summary>
    public static void Write(string path, byte[] pickle, IReadOnlyDictionary<string, byte[]> storages, bool deflate = false)
    {
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        Entry(zip, "archive/data.pkl", pickle, CompressionLevel.NoCompression);
        foreach (var (key, bytes) in storages)
        {
            Entry(zip, $"archive/data/{key}", bytes, deflate ? CompressionLevel.SmallestSize : CompressionLevel.NoCompression);
        }

        Entry(zip, "archive/version", "3\n"u8.ToArray(), CompressionLevel.NoCompression);
    }

    /// <summary>A valid checkpoint: <c>conv.weight</c> [2, 3] (values 0..5), <c>fc.bias</c> [4] (a view at offset 2 of an 8-float storage), <c>scale</c> [] (a scalar).</summary>
    public static void WriteValid(string path)
    {
        var tensors = ValidTensors();
        Write(path, Pickle(tensors), ValidStorages());
    }

    public static PthTensor[] ValidTensors() =>
    [
        new("conv.weight", "0", 6, 0, [2, 3], [3, 1]),
        new("fc.bias", "1", 8, 2, [4], [1]),
        new("scale", "2", 1, 0, [], []),
    ];

    public static Dictionary<string, byte[]> ValidStorages() => new()
    {
        ["0"] = Floats(0, 1, 2, 3, 4, 5),
        ["1"] = Floats(10, 11, 12, 13, 14, 15, 16, 17),
        ["2"] = Floats(0.5f),
    };

    public static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return bytes;
    }

    private static void Entry(ZipArchive zip, string name, byte[] bytes, CompressionLevel level)
    {
        using var stream = zip.CreateEntry(name, level).Open();
        stream.Write(bytes);
    }

    private static void Global(List<byte> p, string module, string name)
    {
        p.Add((byte)'c');
        p.AddRange(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
    }

    private static void Unicode(List<byte> p, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        p.Add((byte)'X');
        p.AddRange(BitConverter.GetBytes(bytes.Length));
        p.AddRange(bytes);
    }

    private static void Int(List<byte> p, long value)
    {
        if (value is >= int.MinValue and <= int.MaxValue)
        {
            p.Add((byte)'J');
            p.AddRange(BitConverter.GetBytes((int)value));
        }
        else
        {
            p.AddRange([0x8a, 8]);
            p.AddRange(BitConverter.GetBytes(value));
        }
    }

    private static void Tuple(List<byte> p, long[] values)
    {
        p.Add((byte)'(');
        foreach (long v in values)
        {
            Int(p, v);
        }

        p.Add((byte)'t');
    }
}
