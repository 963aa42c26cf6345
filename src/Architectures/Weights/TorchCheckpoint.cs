using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Weights;

/// <summary>
/// Reads a state_dict saved by PyTorch's <c>torch.save</c> (the zip format of PyTorch 1.6 and later,
/// as torchvision's published .pth files are): <c>data.pkl</c> is a pickle of an OrderedDict of
/// tensors whose storages are the zip's <c>data/&lt;key&gt;</c> entries. A small pickle machine that
/// knows the opcodes and the few globals such a file uses; nothing in the file is executed.
/// </summary>
public static class TorchCheckpoint
{
    private static readonly string[] NestedKeys = { "state_dict", "model", "model_state_dict", "model_ema" };

    /// <summary>Reads the tensors of a .pth / .pt checkpoint by state_dict key (CPU, stored dtype).</summary>
    /// <exception cref="InvalidDataException">Not a zip checkpoint, an opcode or global this reader does not handle, or no state_dict inside; the message names the file.</exception>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"'{path}' is not a PyTorch zip checkpoint (torch.save of PyTorch 1.6 or later): {e.Message}. Re-save it with torch.save(state_dict, path) or as safetensors.", e);
        }

        using (zip)
        {
            var pickle = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal))
                ?? throw new InvalidDataException($"'{path}' has no data.pkl entry; it is not a torch.save checkpoint.");
            string root = pickle.FullName[..^"data.pkl".Length];
            byte[] bytes;
            using (var stream = pickle.Open())
            using (var buffer = new MemoryStream())
            {
                stream.CopyTo(buffer);
                bytes = buffer.ToArray();
            }

            object? top;
            try
            {
                top = new Unpickler(bytes, key => ReadEntry(zip, root + "data/" + key, path)).Load();
            }
            catch (Exception e) when (e is not InvalidDataException and (InvalidCastException or IndexOutOfRangeException or ArgumentException or InvalidOperationException))
            {
                throw new InvalidDataException($"'{path}': unexpected pickle content ({e.Message}).", e);
            }

            return StateDict(top, path);
        }
    }

    private static Dictionary<string, Tensor> StateDict(object? top, string path)
    {
        if (top is Dictionary<object, object?> dict)
        {
            if (dict.Count > 0 && dict.Values.All(v => v is Tensor))
            {
                return dict.ToDictionary(kv => (string)kv.Key, kv => (Tensor)kv.Value!, StringComparer.Ordinal);
            }

            foreach (string key in NestedKeys)
            {
                if (dict.TryGetValue(key, out var nested) && nested is Dictionary<object, object?>)
                {
                    return StateDict(nested, path);
                }
            }
        }

        throw new InvalidDataException($"'{path}' holds no state_dict (a dictionary of tensors, directly or under {string.Join(", ", NestedKeys)}); found {top?.GetType().Name ?? "null"}. Save model.state_dict().");
    }

    private static byte[] ReadEntry(ZipArchive zip, string name, string path)
    {
        var entry = zip.GetEntry(name) ?? throw new InvalidDataException($"'{path}' lacks the storage entry '{name}'.");
        using var stream = entry.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    private sealed record Global(string Module, string Name);

    private sealed record Storage(ScalarType Type, byte[] Bytes);

    private sealed class Mark
    {
        public static readonly Mark Instance = new();
    }

    private sealed class Opaque
    {
    }

    private sealed class Unpickler(byte[] data, Func<string, byte[]> storage)
    {
        private readonly Stack<object?> _stack = new();
        private readonly Dictionary<int, object?> _memo = new();
        private readonly Dictionary<string, Storage> _storages = new(StringComparer.Ordinal);
        private int _position;

        public object? Load()
        {
            while (true)
            {
                byte op = data[_position++];
                switch (op)
                {
                    case 0x80: _position++; break; // PROTO
                    case 0x95: _position += 8; break; // FRAME
                    case (byte)'}': _stack.Push(new Dictionary<object, object?>()); break;
                    case (byte)']': _stack.Push(new List<object?>()); break;
                    case (byte)')': _stack.Push(Array.Empty<object?>()); break;
                    case (byte)'(': _stack.Push(Mark.Instance); break;
                    case (byte)'N': _stack.Push(null); break;
                    case 0x88: _stack.Push(true); break;
                    case 0x89: _stack.Push(false); break;
                    case (byte)'K': _stack.Push((long)data[_position++]); break;
                    case (byte)'M': _stack.Push((long)BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(_position))); _position += 2; break;
                    case (byte)'J': _stack.Push((long)BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(_position))); _position += 4; break;
                    case 0x8a: _stack.Push(Long1()); break;
                    case (byte)'G': _stack.Push(BinaryPrimitives.ReadDoubleBigEndian(data.AsSpan(_position))); _position += 8; break;
                    case (byte)'X': _stack.Push(Text(BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(_position)), 4)); break;
                    case 0x8c: _stack.Push(Text(data[_position], 1)); break;
                    case (byte)'U': _stack.Push(Text(data[_position], 1)); break;
                    case (byte)'T': _stack.Push(Text(BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(_position)), 4)); break;
                    case (byte)'c': _stack.Push(new Global(Line(), Line())); break;
                    case 0x93: { var name = (string)_stack.Pop()!; var module = (string)_stack.Pop()!; _stack.Push(new Global(module, name)); break; } // STACK_GLOBAL
                    case (byte)'q': _memo[data[_position++]] = _stack.Peek(); break;
                    case (byte)'r': _memo[BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(_position))] = _stack.Peek(); _position += 4; break;
                    case 0x94: _memo[_memo.Count] = _stack.Peek(); break; // MEMOIZE
                    case (byte)'h': _stack.Push(_memo[data[_position++]]); break;
                    case (byte)'j': _stack.Push(_memo[BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(_position))]); _position += 4; break;
                    case (byte)'t': _stack.Push(PopMarked().ToArray()); break;
                    case 0x85: _stack.Push(new[] { _stack.Pop() }); break;
                    case 0x86: { var b = _stack.Pop(); var a = _stack.Pop(); _stack.Push(new[] { a, b }); break; }
                    case 0x87: { var c = _stack.Pop(); var b = _stack.Pop(); var a = _stack.Pop(); _stack.Push(new[] { a, b, c }); break; }
                    case (byte)'s': { var value = _stack.Pop(); var key = _stack.Pop()!; ((Dictionary<object, object?>)_stack.Peek()!)[key] = value; break; }
                    case (byte)'u':
                        {
                            var items = PopMarked();
                            var dict = (Dictionary<object, object?>)_stack.Peek()!;
                            for (int i = 0; i + 1 < items.Count; i += 2)
                            {
                                dict[items[i]!] = items[i + 1];
                            }

                            break;
                        }

                    case (byte)'a': { var value = _stack.Pop(); ((List<object?>)_stack.Peek()!).Add(value); break; }
                    case (byte)'e': { var items = PopMarked(); ((List<object?>)_stack.Peek()!).AddRange(items); break; }
                    case (byte)'Q': _stack.Push(PersistentLoad((object?[])_stack.Pop()!)); break; // BINPERSID
                    case (byte)'R': { var args = (object?[])_stack.Pop()!; var callable = _stack.Pop(); _stack.Push(Reduce(callable, args)); break; }
                    case 0x81: { _stack.Pop(); _stack.Pop(); _stack.Push(new Opaque()); break; } // NEWOBJ
                    case (byte)'b': _stack.Pop(); break; // BUILD: state (OrderedDict _metadata) is not needed
                    case (byte)'.': return _stack.Pop();
                    default:
                        throw new InvalidDataException($"pickle opcode 0x{op:x2} at byte {_position - 1} is not one a torch.save state_dict uses.");
                }
            }
        }

        private List<object?> PopMarked()
        {
            var items = new List<object?>();
            while (_stack.Peek() is not Mark)
            {
                items.Add(_stack.Pop());
            }

            _stack.Pop();
            items.Reverse();
            return items;
        }

        private long Long1()
        {
            int n = data[_position++];
            long value = 0;
            for (int i = n - 1; i >= 0; i--)
            {
                value = (value << 8) | data[_position + i];
            }

            if (n is > 0 and < 8 && (data[_position + n - 1] & 0x80) != 0)
            {
                value -= 1L << (8 * n);
            }

            _position += n;
            return value;
        }

        private string Text(int length, int lengthBytes)
        {
            string s = Encoding.UTF8.GetString(data, _position + lengthBytes, length);
            _position += lengthBytes + length;
            return s;
        }

        private string Line()
        {
            int end = Array.IndexOf(data, (byte)'\n', _position);
            string s = Encoding.ASCII.GetString(data, _position, end - _position);
            _position = end + 1;
            return s;
        }

        private Storage PersistentLoad(object?[] pid)
        {
            // ('storage', torch.FloatStorage, key, location, numel)
            if (pid.Length < 3 || pid[0] as string != "storage" || pid[1] is not Global type || pid[2] is not string key)
            {
                throw new InvalidDataException($"persistent id ({string.Join(", ", pid)}) is not a torch storage reference.");
            }

            if (!_storages.TryGetValue(key, out var loaded))
            {
                loaded = new Storage(StorageType(type), storage(key));
                _storages[key] = loaded;
            }

            return loaded;
        }

        private static ScalarType StorageType(Global type) => type.Name switch
        {
            "FloatStorage" => ScalarType.Float32,
            "DoubleStorage" => ScalarType.Float64,
            "HalfStorage" => ScalarType.Float16,
            "BFloat16Storage" => ScalarType.BFloat16,
            "LongStorage" => ScalarType.Int64,
            "IntStorage" => ScalarType.Int32,
            "ShortStorage" => ScalarType.Int16,
            "CharStorage" => ScalarType.Int8,
            "ByteStorage" => ScalarType.Byte,
            "BoolStorage" => ScalarType.Bool,
            _ => throw new InvalidDataException($"storage type {type.Module}.{type.Name} is not handled."),
        };

        private static object? Reduce(object? callable, object?[] args)
        {
            if (callable is not Global global)
            {
                return new Opaque();
            }

            switch ($"{global.Module}.{global.Name}")
            {
                case "collections.OrderedDict":
                    return new Dictionary<object, object?>();
                case "torch._utils._rebuild_tensor_v2":
                case "torch._utils._rebuild_tensor":
                    {
                        var source = (Storage)args[0]!;
                        long offset = (long)args[1]!;
                        long[] size = ((object?[])args[2]!).Select(d => (long)d!).ToArray();
                        long[] stride = ((object?[])args[3]!).Select(d => (long)d!).ToArray();
                        using var flat = empty(source.Bytes.Length / SafeTensors.ElementSize(source.Type), source.Type);
                        flat.bytes = source.Bytes;
                        using var view = flat.as_strided(size, stride, offset);
                        return view.contiguous();
                    }

                case "torch._utils._rebuild_parameter":
                    return args[0];
                default:
                    return new Opaque();
            }
        }
    }
}
