using System.Buffers.Binary;
using System.IO.Compression;

namespace MLNetCnn.TestSupport;

/// <summary>
/// Crafted model zips, as an attacker edits a saved model: the declared shape of the ONNX graph's first input or
/// output rewritten in the protobuf, a name renamed inside the graph, (ModelProto.graph = 7, GraphProto.input = 11 / output = 12, ValueInfoProto.type = 2,
/// TypeProto.tensor_type = 1, shape = 2, dim = 1, dim_value = 1), and an entry's declared size patched in the zip's headers.
/// Linked into the test projects that need it.
/// </summary>
internal static class OnnxGraphEdit
{
    public const int Input = 11;
    public const int Output = 12;

    /// <summary>Writes <paramref name="target"/>, a copy of <paramref name="source"/> whose graph declares <paramref name="dimensions"/> for its first input or output (<paramref name="field"/>).</summary>
    public static void SetShape(string source, string target, int field, params long[] dimensions)
    {
        byte[] shape = Concat(dimensions.Select(d => Field(1, Field(1, d))));
        RewriteGraph(source, target, graph =>
        {
            bool first = true;
            return Rewrite(graph, 7, g => Rewrite(g, field, info =>
            {
                if (!first)
                {
                    return info;
                }

                first = false;
                return Rewrite(info, 2, type => Rewrite(type, 1, tensor => Rewrite(tensor, 2, _ => shape)));
            }));
        });
    }

    /// <summary>Writes <paramref name="target"/>, a copy of <paramref name="source"/> whose graph has every UTF-8 <paramref name="from"/> replaced by <paramref name="to"/> (of the same length); ML.NET's own entries are copied unchanged.</summary>
    public static void RenameInGraph(string source, string target, string from, string to) => RewriteGraph(source, target, graph =>
    {
        byte[] find = System.Text.Encoding.UTF8.GetBytes(from);
        byte[] put = System.Text.Encoding.UTF8.GetBytes(to);
        for (int at = graph.AsSpan().IndexOf(find); at >= 0; at = graph.AsSpan().IndexOf(find))
        {
            put.CopyTo(graph, at);
        }

        return graph;
    });

    private static void RewriteGraph(string source, string target, Func<byte[], byte[]> edit)
    {
        File.Copy(source, target, overwrite: true);
        using var archive = ZipFile.Open(target, ZipArchiveMode.Update);
        var entry = archive.Entries.Single(e => e.FullName.EndsWith("/OnnxModel", StringComparison.Ordinal));
        byte[] bytes;
        using (var stream = entry.Open())
        using (var copy = new MemoryStream())
        {
            stream.CopyTo(copy);
            bytes = copy.ToArray();
        }

        byte[] graph = edit(bytes[4..]);
        string name = entry.FullName;
        entry.Delete();
        using var written = archive.CreateEntry(name).Open();
        var prefix = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(prefix, graph.Length);
        written.Write(prefix);
        written.Write(graph);
    }

    /// <summary>Patches the uncompressed size that the local and central headers of the entry ending in <paramref name="suffix"/> declare.</summary>
    public static void DeclareLength(string zip, string suffix, uint length)
    {
        byte[] bytes = File.ReadAllBytes(zip);
        byte[] name;
        using (var archive = ZipFile.OpenRead(zip))
        {
            name = System.Text.Encoding.UTF8.GetBytes(archive.Entries.Single(e => e.FullName.EndsWith(suffix, StringComparison.Ordinal)).FullName);
        }

        int patched = 0;
        foreach (var (signature, nameAt, sizeAt) in new[] { (0x04034b50u, 30, 22), (0x02014b50u, 46, 24) })
        {
            for (int i = 0; i + nameAt + name.Length <= bytes.Length; i++)
            {
                if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i)) == signature && bytes.AsSpan(i + nameAt, name.Length).SequenceEqual(name))
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i + sizeAt), length);
                    patched++;
                }
            }
        }

        if (patched != 2)
        {
            throw new InvalidOperationException($"found {patched} headers of '{suffix}' in '{zip}'");
        }

        File.WriteAllBytes(zip, bytes);
    }

    /// <summary>Rewrites each length-delimited <paramref name="field"/> of a protobuf message; every other field is copied.</summary>
    private static byte[] Rewrite(byte[] message, int field, Func<byte[], byte[]> rewrite)
    {
        using var output = new MemoryStream();
        int at = 0;
        while (at < message.Length)
        {
            int start = at;
            ulong key = Varint(message, ref at);
            int end = (key & 7) switch
            {
                0 => Skip(message, ref at),
                1 => at + 8,
                2 => (int)Varint(message, ref at) + at,
                5 => at + 4,
                var wire => throw new InvalidDataException($"wire type {wire}"),
            };
            if ((int)(key >> 3) == field && (key & 7) == 2)
            {
                output.Write(Field(field, rewrite(message[at..end])));
            }
            else
            {
                output.Write(message.AsSpan(start, end - start));
            }

            at = end;
        }

        return output.ToArray();
    }

    private static int Skip(byte[] message, ref int at)
    {
        Varint(message, ref at);
        return at;
    }

    private static ulong Varint(byte[] message, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = message[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }

    private static byte[] VarintBytes(ulong value)
    {
        var bytes = new List<byte>();
        for (; value >= 0x80; value >>= 7)
        {
            bytes.Add((byte)(value | 0x80));
        }

        bytes.Add((byte)value);
        return [.. bytes];
    }

    private static byte[] Field(int field, long value) => [.. VarintBytes((ulong)field << 3), .. VarintBytes((ulong)value)];

    private static byte[] Field(int field, byte[] value) => [.. VarintBytes(((ulong)field << 3) | 2), .. VarintBytes((ulong)value.Length), .. value];

    private static byte[] Concat(IEnumerable<byte[]> parts) => parts.SelectMany(p => p).ToArray();
}
