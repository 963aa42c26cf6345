using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Weights;

/// <summary>
/// Reads and writes the safetensors format (an 8-byte little-endian header length, a JSON header of
/// name -> dtype, shape and byte range, then the raw little-endian data): the plain weights format of
/// the Hugging Face and PyTorch ecosystems, and the one this library writes.
/// </summary>
public static class SafeTensors
{
    private const string MetadataKey = "__metadata__";

    /// <summary>The format's limit on the JSON header (100 MB, as the reference implementation enforces).</summary>
    private const ulong MaxHeaderBytes = 100_000_000;

    /// <summary>Reads every tensor of a safetensors file (on the CPU, in its stored dtype) and the header's string metadata.</summary>
    /// <remarks>
    /// The file is untrusted: the header is checked whole (a JSON object; each tensor a known dtype, non-negative
    /// dimensions whose byte count does not overflow, and data_offsets inside the file that match it) before
    /// anything is allocated, and each tensor is then read from the file straight into its memory.
    /// </remarks>
    /// <exception cref="InvalidDataException">The file is not a well-formed safetensors file; the message names it and says what is wrong.</exception>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"Weights file '{path}' cannot be read: {e.Message}", e);
        }

        using (file)
        {
            var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            try
            {
                var (entries, metadata, dataStart) = ReadHeader(file);
                foreach (var entry in entries)
                {
                    var t = empty(entry.Shape, entry.Type);
                    tensors[entry.Name] = t;
                    file.Position = dataStart + entry.Begin;
                    UntrustedFile.Fill(t, file);
                }

                return (tensors, metadata);
            }
            catch (Exception e) when (UntrustedFile.IsMalformed(e))
            {
                foreach (var t in tensors.Values)
                {
                    t.Dispose();
                }

                throw UntrustedFile.Error(path, "safetensors file", e);
            }
        }
    }

    private sealed record Entry(string Name, ScalarType Type, long[] Shape, long Begin);

    private static (List<Entry> Entries, Dictionary<string, string> Metadata, long DataStart) ReadHeader(FileStream file)
    {
        long length = file.Length;
        if (length < 8)
        {
            throw new InvalidDataException($"{length} bytes, shorter than the 8-byte header length");
        }

        Span<byte> word = stackalloc byte[8];
        file.ReadExactly(word);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(word);
        if (headerLength > (ulong)(length - 8) || headerLength > MaxHeaderBytes)
        {
            throw new InvalidDataException($"its header claims {headerLength} bytes in a file of {length} (the format allows at most {MaxHeaderBytes})");
        }

        var json = new byte[headerLength];
        file.ReadExactly(json);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"its header is not JSON ({e.Message})", e);
        }

        if (root is not JsonObject header)
        {
            throw new InvalidDataException($"its header is a JSON {root?.GetValueKind().ToString().ToLowerInvariant() ?? "null"}, not a JSON object of tensors");
        }

        long dataStart = 8 + (long)headerLength;
        long dataLength = length - dataStart;
        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, node) in header)
        {
            if (name == MetadataKey)
            {
                if (node is not JsonObject pairs || pairs.Any(p => p.Value is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
                {
                    throw new InvalidDataException($"'{MetadataKey}' must be an object of string values; found {node?.ToJsonString()}");
                }

                foreach (var (key, value) in pairs)
                {
                    metadata[key] = value!.GetValue<string>();
                }

                continue;
            }

            entries.Add(ParseEntry(name, node, dataLength));
        }

        return (entries, metadata, dataStart);
    }

    private static Entry ParseEntry(string name, JsonNode? node, long dataLength)
    {
        if (node is not JsonObject entry)
        {
            throw new InvalidDataException($"tensor '{name}' is {node?.ToJsonString() ?? "null"}, not an object with dtype, shape and data_offsets");
        }

        if (entry["dtype"] is not JsonValue dtype || dtype.GetValueKind() != JsonValueKind.String)
        {
            throw new InvalidDataException($"tensor '{name}' has no string dtype");
        }

        var type = DType(dtype.GetValue<string>(), name);
        var shape = Integers(entry["shape"]);
        if (shape is null || shape.Any(d => d < 0))
        {
            throw new InvalidDataException($"tensor '{name}' has shape {entry["shape"]?.ToJsonString() ?? "(none)"}; expected an array of non-negative integers");
        }

        long bytes;
        try
        {
            bytes = UntrustedFile.ByteCount(shape.Aggregate(1L, (a, b) => checked(a * b)), type);
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"tensor '{name}' has shape [{string.Join(", ", shape)}], whose size overflows");
        }

        var offsets = Integers(entry["data_offsets"]);
        if (offsets is not [var begin, var end] || begin < 0 || end < begin || end > dataLength || end - begin != bytes)
        {
            throw new InvalidDataException($"tensor '{name}' of shape [{string.Join(", ", shape)}] needs {bytes} bytes but its data_offsets are {entry["data_offsets"]?.ToJsonString() ?? "(none)"} in a data section of {dataLength} bytes");
        }

        return new Entry(name, type, shape, begin);
    }

    /// <summary>The integers of a JSON array, or null when it is not an array of integers.</summary>
    private static long[]? Integers(JsonNode? node)
    {
        if (node is not JsonArray array)
        {
            return null;
        }

        var values = new long[array.Count];
        for (int i = 0; i < values.Length; i++)
        {
            if (array[i] is not JsonValue value || !value.TryGetValue(out long v))
            {
                return null;
            }

            values[i] = v;
        }

        return values;
    }

    /// <summary>Writes <paramref name="tensors"/> (any device; written from the CPU, contiguous) with optional string metadata.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (key, value) in metadata)
            {
                meta[key] = value;
            }

            header[MetadataKey] = meta;
        }

        var blobs = new List<byte[]>();
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            using var cpu = tensor.detach().cpu().contiguous();
            byte[] data = cpu.bytes.ToArray();
            header[name] = new JsonObject
            {
                ["dtype"] = Name(cpu.dtype),
                ["shape"] = new JsonArray(cpu.shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + data.Length),
            };
            blobs.Add(data);
            offset += data.Length;
        }

        byte[] json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        int padding = (8 - (json.Length % 8)) % 8; // the format allows trailing spaces; aligned data is friendlier to readers that map the file
        string temporary = path + ".tmp";
        using (var stream = File.Create(temporary))
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)(json.Length + padding));
            stream.Write(length);
            stream.Write(json);
            stream.Write(Enumerable.Repeat((byte)' ', padding).ToArray());
            foreach (var blob in blobs)
            {
                stream.Write(blob);
            }
        }

        File.Move(temporary, path, overwrite: true);
    }

    private static ScalarType DType(string name, string tensor) => name switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new InvalidDataException($"tensor '{tensor}' has dtype '{name}', which this reader does not handle (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)"),
    };

    private static string Name(ScalarType type) => type switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"safetensors has no dtype for {type}."),
    };
}
