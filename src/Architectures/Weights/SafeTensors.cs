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

    /// <summary>Reads every tensor of a safetensors file (on the CPU, in its stored dtype) and the header's string metadata.</summary>
    /// <exception cref="InvalidDataException">The file is not a well-formed safetensors file; the message says what is wrong.</exception>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"Weights file '{path}' cannot be read: {e.Message}", e);
        }

        if (bytes.Length < 8)
        {
            throw new InvalidDataException($"'{path}' is not a safetensors file: {bytes.Length} bytes, shorter than the 8-byte header length.");
        }

        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)(bytes.Length - 8))
        {
            throw new InvalidDataException($"'{path}' is not a safetensors file: its header claims {headerLength} bytes but the file has {bytes.Length}.");
        }

        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLength))?.AsObject() ?? throw new InvalidDataException("empty header");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a safetensors file: its header is not JSON ({e.Message}).", e);
        }

        long dataStart = 8 + (long)headerLength;
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, node) in header)
            {
                if (name == MetadataKey)
                {
                    foreach (var (key, value) in node!.AsObject())
                    {
                        metadata[key] = value?.GetValue<string>() ?? string.Empty;
                    }

                    continue;
                }

                var entry = node!.AsObject();
                var type = DType(entry["dtype"]!.GetValue<string>(), name, path);
                long[] shape = entry["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                var offsets = entry["data_offsets"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                long expected = shape.Aggregate(1L, (a, b) => a * b) * ElementSize(type);
                if (offsets.Length != 2 || offsets[1] - offsets[0] != expected || dataStart + offsets[1] > bytes.Length || offsets[0] < 0)
                {
                    throw new InvalidDataException($"'{path}': tensor '{name}' of shape [{string.Join(", ", shape)}] needs {expected} bytes but its data_offsets are [{string.Join(", ", offsets)}] in a data section of {bytes.Length - dataStart} bytes.");
                }

                var data = bytes.AsSpan((int)(dataStart + offsets[0]), (int)expected).ToArray();
                var t = empty(shape, type);
                t.bytes = data;
                tensors[name] = t;
            }
        }
        catch (Exception e) when (e is InvalidOperationException or NullReferenceException or FormatException)
        {
            foreach (var t in tensors.Values)
            {
                t.Dispose();
            }

            throw new InvalidDataException($"'{path}' has a malformed safetensors header: {e.Message}", e);
        }

        return (tensors, metadata);
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

    private static ScalarType DType(string name, string tensor, string path) => name switch
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
        _ => throw new InvalidDataException($"'{path}': tensor '{tensor}' has dtype '{name}', which this reader does not handle (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)."),
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

    /// <summary>Bytes per element of <paramref name="type"/> (also used by <see cref="TorchCheckpoint"/>).</summary>
    internal static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };
}
