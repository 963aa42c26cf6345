namespace MLNetCnn.Serving;

/// <summary>
/// Reads an ONNX graph's metadata and the declared shapes of its inputs and outputs from its protobuf, the shapes as ML.NET does: ModelProto.graph (7),
/// GraphProto.input (11) and output (12), ValueInfoProto.name (1) and type (2), TypeProto.tensor_type (1),
/// TypeProto.Tensor.shape (2), TensorShapeProto.dim (1), Dimension.dim_value (1) or dim_param (2).
/// </summary>
internal static class OnnxShapes
{
    public const string Input = "input";
    public const string Output = "output";

    /// <summary>A dimension declared by name (dim_param) or not at all: one that varies.</summary>
    public const long Varies = -1;

    /// <summary>Each tensor input and output of the graph with its dimensions (<see cref="Varies"/> for one without a value). The graph has loaded in ONNX Runtime, so it is well formed.</summary>
    public static IEnumerable<(string Kind, string Name, long[] Shape)> Read(byte[] model)
    {
        foreach (var graph in Fields((ReadOnlyMemory<byte>)model, 7))
        {
            foreach (var (field, kind) in new[] { (11, Input), (12, Output) })
            {
                foreach (var info in Fields(model.AsMemory(graph.Start, graph.Length), field))
                {
                    var value = model.AsMemory(graph.Start + info.Start, info.Length);
                    string name = Fields(value, 1).Select(n => System.Text.Encoding.UTF8.GetString(value.Span.Slice(n.Start, n.Length))).LastOrDefault() ?? string.Empty;
                    var shapes = Nested(value, 2, 1, 2).ToList();
                    if (shapes.Count > 0)
                    {
                        yield return (kind, name, [.. Fields(shapes[^1], 1).Select(d => Dimension(shapes[^1].Slice(d.Start, d.Length)))]);
                    }
                }
            }
        }
    }

    /// <summary>The graph's metadata_props (ModelProto field 14, StringStringEntryProto key 1 and value 2), the last of a repeated key winning.</summary>
    public static Dictionary<string, string> Metadata(byte[] model)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in Fields((ReadOnlyMemory<byte>)model, 14))
        {
            var value = model.AsMemory(entry.Start, entry.Length);
            string Text(int field) => Fields(value, field).Select(f => System.Text.Encoding.UTF8.GetString(value.Span.Slice(f.Start, f.Length))).LastOrDefault() ?? string.Empty;
            metadata[Text(1)] = Text(2);
        }

        return metadata;
    }

    private static long Dimension(ReadOnlyMemory<byte> dim)
    {
        long value = Varies;
        int at = 0;
        var span = dim.Span;
        while (at < span.Length)
        {
            ulong key = Varint(span, ref at);
            if (key == (1 << 3))
            {
                value = (long)Varint(span, ref at); // int64: a negative value arrives as ten bytes
            }
            else
            {
                at = Skip(span, at, key);
                value = key == ((2 << 3) | 2) ? Varies : value;
            }
        }

        return value;
    }

    /// <summary>The message at the end of a path of length-delimited fields.</summary>
    private static IEnumerable<ReadOnlyMemory<byte>> Nested(ReadOnlyMemory<byte> message, params int[] path)
    {
        if (path.Length == 0)
        {
            return [message];
        }

        return Fields(message, path[0]).SelectMany(f => Nested(message.Slice(f.Start, f.Length), path[1..]));
    }

    private static List<(int Start, int Length)> Fields(ReadOnlyMemory<byte> message, int field) => Fields(message.Span, field);

    private static List<(int Start, int Length)> Fields(ReadOnlySpan<byte> message, int field)
    {
        var found = new List<(int, int)>();
        int at = 0;
        while (at < message.Length)
        {
            ulong key = Varint(message, ref at);
            if (key == (((ulong)field << 3) | 2))
            {
                int length = checked((int)Varint(message, ref at));
                found.Add((at, length));
                at += length;
            }
            else
            {
                at = Skip(message, at, key);
            }
        }

        return found;
    }

    private static int Skip(ReadOnlySpan<byte> message, int at, ulong key)
    {
        switch (key & 7)
        {
            case 0:
                Varint(message, ref at);
                return at;
            case 1:
                return at + 8;
            case 2:
                int length = checked((int)Varint(message, ref at));
                return at + length;
            case 5:
                return at + 4;
            default:
                throw new InvalidDataException($"The ONNX graph's protobuf has a field of wire type {key & 7}.");
        }
    }

    private static ulong Varint(ReadOnlySpan<byte> message, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = message[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new InvalidDataException("The ONNX graph's protobuf has a varint longer than ten bytes.");
    }
}
