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
/// <remarks>
/// The file is untrusted. Every storage must be exactly as large as the pickle declares and is read straight
/// into its tensor, so memory follows what the tensors need, never what a zip entry claims; compressed
/// entries may not inflate beyond deflate's limit (1032 to 1) of their bytes in the file (torch.save stores
/// them uncompressed). Every view (offset, sizes, strides) is checked against its storage before libtorch
/// sees it, and every malformed file is an <see cref="InvalidDataException"/> that names it.
/// </remarks>
public static class TorchCheckpoint
{
    private const long DeflateMaxRatio = 1032;
    private const int MaxNesting = 8;
    private static readonly string[] NestedKeys = { "state_dict", "model", "model_state_dict", "model_ema" };

    /// <summary>Reads the tensors of a .pth / .pt checkpoint by state_dict key (CPU, stored dtype).</summary>
    /// <exception cref="InvalidDataException">Not a zip checkpoint, an opcode or global this reader does not handle, no state_dict inside, or any malformation; the message names the file.</exception>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or NotSupportedException or EndOfStreamException)
        {
            throw new InvalidDataException($"'{path}' is not a PyTorch zip checkpoint (torch.save of PyTorch 1.6 or later): {e.Message}. Re-save it with torch.save(state_dict, path) or as safetensors.", e);
        }

        using (zip)
        using (var storages = new StorageReader(zip, path))
        {
            try
            {
                var pickle = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal))
                    ?? throw new InvalidDataException("it has no data.pkl entry; it is not a torch.save checkpoint");
                storages.Root = pickle.FullName[..^"data.pkl".Length];
                object? top = new Unpickler(storages.ReadWhole(pickle)).Load();
                return Materialize(StateDict(top, depth: 0), storages);
            }
            catch (Exception e) when (UntrustedFile.IsMalformed(e))
            {
                throw UntrustedFile.Error(path, "PyTorch checkpoint", e);
            }
        }
    }

    private static Dictionary<object, object?> StateDict(object? top, int depth)
    {
        if (top is Dictionary<object, object?> dict && depth < MaxNesting)
        {
            if (dict.Count > 0 && dict.Values.All(v => v is TensorView))
            {
                return dict;
            }

            foreach (string key in NestedKeys)
            {
                if (dict.TryGetValue(key, out var nested) && nested is Dictionary<object, object?>)
                {
                    return StateDict(nested, depth + 1);
                }
            }
        }

        throw new InvalidDataException($"it holds no state_dict (a dictionary of tensors, directly or under {string.Join(", ", NestedKeys)}); found {top?.GetType().Name ?? "null"}. Save model.state_dict()");
    }

    /// <summary>Checks every view against its storage, then reads the storages and builds the tensors.</summary>
    private static Dictionary<string, Tensor> Materialize(Dictionary<object, object?> dict, StorageReader storages)
    {
        var views = dict.ToDictionary(kv => kv.Key as string ?? throw new InvalidDataException($"a state_dict key is a {kv.Key.GetType().Name}, not a string"), kv => (TensorView)kv.Value!, StringComparer.Ordinal);
        foreach (var (name, view) in views)
        {
            view.Check(name);
        }

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, view) in views)
            {
                var storage = storages.Load(view.Storage);
                using var strided = storage.as_strided(view.Size, view.Stride, view.Offset);
                tensors[name] = strided.contiguous();
            }

            return tensors;
        }
        catch
        {
            foreach (var t in tensors.Values)
            {
                t.Dispose();
            }

            throw;
        }
    }

    private sealed record Global(string Module, string Name);

    /// <summary>A storage as the pickle declares it: zip key, element type and element count.</summary>
    private sealed record StorageRef(string Key, ScalarType Type, long Elements);

    /// <summary>A tensor as the pickle declares it: a view onto a storage, checked before it is built.</summary>
    private sealed record TensorView(StorageRef Storage, long Offset, long[] Size, long[] Stride)
    {
        /// <summary>Throws unless the view lies inside its storage (all arithmetic checked in long).</summary>
        public void Check(string name)
        {
            string view = $"tensor '{name}' (offset {Offset}, size [{string.Join(", ", Size)}], stride [{string.Join(", ", Stride)}])";
            if (Size.Length != Stride.Length)
            {
                throw new InvalidDataException($"{view} has {Size.Length} sizes but {Stride.Length} strides");
            }

            if (Offset < 0 || Size.Any(s => s < 0) || Stride.Any(s => s < 0))
            {
                throw new InvalidDataException($"{view} has a negative offset, size or stride");
            }

            long elements;
            try
            {
                elements = Size.Aggregate(1L, (a, b) => checked(a * b));
            }
            catch (OverflowException)
            {
                throw new InvalidDataException($"{view}: the element count of its size overflows");
            }

            string outside = $"{view} reaches past the end of its storage of {Storage.Elements} elements";
            try
            {
                long last = elements == 0 ? Offset : Size.Zip(Stride).Aggregate(Offset, (at, d) => checked(at + ((d.First - 1) * d.Second)));
                if (elements == 0 ? last > Storage.Elements : last >= Storage.Elements)
                {
                    throw new InvalidDataException(outside);
                }
            }
            catch (OverflowException)
            {
                throw new InvalidDataException(outside);
            }
        }
    }

    /// <summary>Reads zip entries within bounds: storages once each, straight into tensors; disposes them at the end.</summary>
    private sealed class StorageReader(ZipArchive zip, string path) : IDisposable
    {
        private readonly Dictionary<string, Tensor> _loaded = new(StringComparer.Ordinal);
        private readonly long _fileLength = new FileInfo(path).Length;

        public string Root { get; set; } = string.Empty;

        /// <summary>A small entry (the pickle) as one array.</summary>
        public byte[] ReadWhole(ZipArchiveEntry entry)
        {
            CheckDeclaredLength(entry);
            if (entry.Length > Array.MaxLength)
            {
                throw new InvalidDataException($"entry '{entry.FullName}' declares {entry.Length} bytes");
            }

            var bytes = new byte[entry.Length];
            using var stream = entry.Open();
            stream.ReadExactly(bytes);
            return bytes;
        }

        public Tensor Load(StorageRef storage)
        {
            if (_loaded.TryGetValue(storage.Key, out var loaded))
            {
                return loaded;
            }

            string name = Root + "data/" + storage.Key;
            var entry = zip.GetEntry(name) ?? throw new InvalidDataException($"it lacks the storage entry '{name}'");
            long needed = UntrustedFile.ByteCount(storage.Elements, storage.Type);
            if (entry.Length != needed)
            {
                throw new InvalidDataException($"storage entry '{name}' holds {entry.Length} bytes but its tensors declare {storage.Elements} x {storage.Type} = {needed} bytes");
            }

            CheckDeclaredLength(entry);
            var tensor = empty(storage.Elements, storage.Type);
            _loaded[storage.Key] = tensor;
            using var stream = entry.Open();
            UntrustedFile.Fill(tensor, stream);
            return tensor;
        }

        public void Dispose()
        {
            foreach (var t in _loaded.Values)
            {
                t.Dispose();
            }
        }

        /// <summary>An entry cannot hold more than the file, nor inflate beyond deflate's maximum ratio.</summary>
        private void CheckDeclaredLength(ZipArchiveEntry entry)
        {
            if (entry.CompressedLength > _fileLength || entry.Length > (entry.CompressedLength * DeflateMaxRatio) + 1024)
            {
                throw new InvalidDataException($"entry '{entry.FullName}' declares {entry.Length} bytes from {entry.CompressedLength} in a file of {_fileLength}");
            }
        }
    }

    private sealed class Mark
    {
        public static readonly Mark Instance = new();
    }

    private sealed class Opaque
    {
    }

    private sealed class Unpickler(byte[] data)
    {
        private readonly Stack<object?> _stack = new();
        private readonly Dictionary<long, object?> _memo = new();
        private readonly Dictionary<string, StorageRef> _storages = new(StringComparer.Ordinal);
        private int _position;

        public object? Load()
        {
            while (true)
            {
                byte op = Byte();
                switch (op)
                {
                    case 0x80: Byte(); break; // PROTO
                    case 0x95: Bytes(8); break; // FRAME
                    case (byte)'}': _stack.Push(new Dictionary<object, object?>()); break;
                    case (byte)']': _stack.Push(new List<object?>()); break;
                    case (byte)')': _stack.Push(Array.Empty<object?>()); break;
                    case (byte)'(': _stack.Push(Mark.Instance); break;
                    case (byte)'N': _stack.Push(null); break;
                    case 0x88: _stack.Push(true); break;
                    case 0x89: _stack.Push(false); break;
                    case (byte)'K': _stack.Push((long)Byte()); break;
                    case (byte)'M': _stack.Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2))); break;
                    case (byte)'J': _stack.Push((long)BinaryPrimitives.ReadInt32LittleEndian(Bytes(4))); break;
                    case 0x8a: _stack.Push(Long1()); break;
                    case (byte)'G': _stack.Push(BinaryPrimitives.ReadDoubleBigEndian(Bytes(8))); break;
                    case (byte)'X': _stack.Push(Text(BinaryPrimitives.ReadInt32LittleEndian(Bytes(4)))); break;
                    case 0x8c: _stack.Push(Text(Byte())); break;
                    case (byte)'U': _stack.Push(Text(Byte())); break;
                    case (byte)'T': _stack.Push(Text(BinaryPrimitives.ReadInt32LittleEndian(Bytes(4)))); break;
                    case (byte)'c': _stack.Push(new Global(Line(), Line())); break;
                    case 0x93: { var name = (string)Pop()!; var module = (string)Pop()!; _stack.Push(new Global(module, name)); break; } // STACK_GLOBAL
                    case (byte)'q': _memo[Byte()] = Peek(); break;
                    case (byte)'r': _memo[BinaryPrimitives.ReadInt32LittleEndian(Bytes(4))] = Peek(); break;
                    case 0x94: _memo[_memo.Count] = Peek(); break; // MEMOIZE
                    case (byte)'h': _stack.Push(Memo(Byte())); break;
                    case (byte)'j': _stack.Push(Memo(BinaryPrimitives.ReadInt32LittleEndian(Bytes(4)))); break;
                    case (byte)'t': _stack.Push(PopMarked().ToArray()); break;
                    case 0x85: _stack.Push(new[] { Pop() }); break;
                    case 0x86: { var b = Pop(); var a = Pop(); _stack.Push(new[] { a, b }); break; }
                    case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); _stack.Push(new[] { a, b, c }); break; }
                    case (byte)'s': { var value = Pop(); var key = Pop()!; ((Dictionary<object, object?>)Peek()!)[key] = value; break; }
                    case (byte)'u':
                        {
                            var items = PopMarked();
                            var dict = (Dictionary<object, object?>)Peek()!;
                            for (int i = 0; i + 1 < items.Count; i += 2)
                            {
                                dict[items[i]!] = items[i + 1];
                            }

                            break;
                        }

                    case (byte)'a': { var value = Pop(); ((List<object?>)Peek()!).Add(value); break; }
                    case (byte)'e': { var items = PopMarked(); ((List<object?>)Peek()!).AddRange(items); break; }
                    case (byte)'Q': _stack.Push(PersistentLoad((object?[])Pop()!)); break; // BINPERSID
                    case (byte)'R': { var args = (object?[])Pop()!; var callable = Pop(); _stack.Push(Reduce(callable, args)); break; }
                    case 0x81: { Pop(); Pop(); _stack.Push(new Opaque()); break; } // NEWOBJ
                    case (byte)'b': Pop(); break; // BUILD: state (OrderedDict _metadata) is not needed
                    case (byte)'.': return Pop();
                    default:
                        throw new InvalidDataException($"pickle opcode 0x{op:x2} at byte {_position - 1} is not one a torch.save state_dict uses");
                }
            }
        }

        private byte Byte() => _position < data.Length ? data[_position++] : throw Truncated();

        private ReadOnlySpan<byte> Bytes(int count)
        {
            if (count < 0 || count > data.Length - _position)
            {
                throw Truncated();
            }

            _position += count;
            return data.AsSpan(_position - count, count);
        }

        private InvalidDataException Truncated() => new($"the pickle ends at byte {_position} of {data.Length} before its STOP opcode or mid-value");

        private object? Pop() => _stack.Count > 0 ? _stack.Pop() : throw new InvalidDataException($"the pickle pops an empty stack at byte {_position}");

        private object? Peek() => _stack.Count > 0 ? _stack.Peek() : throw new InvalidDataException($"the pickle reads an empty stack at byte {_position}");

        private object? Memo(long key) => _memo.TryGetValue(key, out var value) ? value : throw new InvalidDataException($"the pickle refers to memo entry {key} at byte {_position}, which was never stored");

        private List<object?> PopMarked()
        {
            var items = new List<object?>();
            while (Peek() is not Mark)
            {
                items.Add(_stack.Pop());
            }

            _stack.Pop();
            items.Reverse();
            return items;
        }

        private long Long1()
        {
            int n = Byte();
            var bytes = Bytes(n);
            if (n > 8)
            {
                throw new InvalidDataException($"a {n}-byte integer at byte {_position - n} does not fit 64 bits");
            }

            long value = 0;
            for (int i = n - 1; i >= 0; i--)
            {
                value = (value << 8) | bytes[i];
            }

            if (n is > 0 and < 8 && (bytes[n - 1] & 0x80) != 0)
            {
                value -= 1L << (8 * n);
            }

            return value;
        }

        private string Text(int length) => Encoding.UTF8.GetString(Bytes(length));

        private string Line()
        {
            int end = Array.IndexOf(data, (byte)'\n', _position);
            if (end < 0)
            {
                throw Truncated();
            }

            return Encoding.ASCII.GetString(Bytes(end - _position + 1)[..^1]);
        }

        private StorageRef PersistentLoad(object?[] pid)
        {
            // ('storage', torch.FloatStorage, key, location, numel)
            if (pid.Length < 5 || pid[0] as string != "storage" || pid[1] is not Global type || pid[2] is not string key || pid[4] is not long elements)
            {
                throw new InvalidDataException($"persistent id ({string.Join(", ", pid)}) is not a torch storage reference");
            }

            if (!_storages.TryGetValue(key, out var loaded))
            {
                loaded = new StorageRef(key, StorageType(type), elements);
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
            _ => throw new InvalidDataException($"storage type {type.Module}.{type.Name} is not handled"),
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
                    return new TensorView((StorageRef)args[0]!, (long)args[1]!, Longs(args[2]), Longs(args[3]));
                case "torch._utils._rebuild_parameter":
                    return args[0];
                default:
                    return new Opaque();
            }
        }

        private static long[] Longs(object? tuple) => ((object?[])tuple!).Select(d => (long)d!).ToArray();
    }
}
