using System.Runtime.InteropServices;

namespace MLNetCnn.Architectures.Onnx;

/// <summary>ONNX tensor element types used here (values of <c>TensorProto.DataType</c>).</summary>
public enum OnnxElementType
{
    /// <summary>32-bit float.</summary>
    Float = 1,

    /// <summary>64-bit signed integer.</summary>
    Int64 = 7,

    /// <summary>UTF-8 string.</summary>
    String = 8,
}

/// <summary>A node attribute: an int, a float, a string, a list of ints or a list of strings.</summary>
public sealed record OnnxAttribute(string Name, long? Int = null, float? Float = null, string? Text = null, IReadOnlyList<long>? Ints = null, IReadOnlyList<string>? Texts = null)
{
    internal void Write(ProtoWriter w)
    {
        w.String(1, Name);
        if (Float is { } f)
        {
            w.Float(2, f);
            w.Int64(20, 1);
        }
        else if (Int is { } i)
        {
            w.Int64(3, i);
            w.Int64(20, 2);
        }
        else if (Text is { } s)
        {
            w.String(4, s);
            w.Int64(20, 3);
        }
        else if (Ints is { } ints)
        {
            foreach (long v in ints)
            {
                w.Int64(8, v);
            }

            w.Int64(20, 7);
        }
        else if (Texts is { } texts)
        {
            foreach (string v in texts)
            {
                w.String(9, v);
            }

            w.Int64(20, 8);
        }
        else
        {
            throw new InvalidOperationException($"ONNX attribute '{Name}' has no value.");
        }
    }
}

/// <summary>One operator application in the graph.</summary>
public sealed record OnnxNode(string OpType, string Name, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, IReadOnlyList<OnnxAttribute> Attributes)
{
    /// <summary>The operator's domain: empty for the default ONNX operators, <see cref="OnnxModel.MlDomain"/> for ONNX-ML ones.</summary>
    public string Domain { get; init; } = string.Empty;

    internal void Write(ProtoWriter w)
    {
        foreach (string i in Inputs)
        {
            w.String(1, i);
        }

        foreach (string o in Outputs)
        {
            w.String(2, o);
        }

        w.String(3, Name);
        w.String(4, OpType);
        foreach (var a in Attributes)
        {
            w.Message(5, a.Write);
        }

        if (Domain.Length > 0)
        {
            w.String(7, Domain);
        }
    }
}

/// <summary>A constant tensor (weights, shapes, normalization constants, strings).</summary>
public sealed record OnnxTensor(string Name, IReadOnlyList<long> Dims, float[]? FloatData = null, long[]? Int64Data = null, string[]? StringData = null)
{
    /// <summary>Element type of the tensor.</summary>
    public OnnxElementType ElementType => FloatData is not null ? OnnxElementType.Float : StringData is not null ? OnnxElementType.String : OnnxElementType.Int64;

    internal void Write(ProtoWriter w)
    {
        foreach (long d in Dims)
        {
            w.Int64(1, d);
        }

        w.Int64(2, (long)ElementType);
        w.String(8, Name);
        if (FloatData is not null)
        {
            w.Bytes(9, MemoryMarshal.AsBytes(FloatData.AsSpan()));
        }
        else if (Int64Data is not null)
        {
            w.Bytes(9, MemoryMarshal.AsBytes(Int64Data.AsSpan()));
        }
        else if (StringData is not null)
        {
            foreach (string v in StringData)
            {
                w.String(6, v);
            }
        }
    }
}

/// <summary>A graph input or output: name, element type and shape (a null dimension is symbolic, named <paramref name="SymbolicDim"/>).</summary>
public sealed record OnnxValueInfo(string Name, OnnxElementType ElementType, IReadOnlyList<long?> Shape, string SymbolicDim = "N")
{
    internal void Write(ProtoWriter w)
    {
        w.String(1, Name);
        w.Message(2, type => type.Message(1, tensor =>
        {
            tensor.Int64(1, (long)ElementType);
            tensor.Message(2, shape =>
            {
                foreach (long? d in Shape)
                {
                    shape.Message(1, dim =>
                    {
                        if (d is { } v)
                        {
                            dim.Int64(1, v);
                        }
                        else
                        {
                            dim.String(2, SymbolicDim);
                        }
                    });
                }
            });
        }));
    }
}

/// <summary>A whole ONNX model: one graph, its opset, and string metadata.</summary>
public sealed class OnnxModel
{
    /// <summary>The default-domain opset the graphs are written against.</summary>
    public const long OpsetVersion = 17;

    /// <summary>The ONNX-ML operator domain (LabelEncoder, ...).</summary>
    public const string MlDomain = "ai.onnx.ml";

    /// <summary>The ONNX-ML opset imported when a node is of that domain (LabelEncoder with keys_strings and values_int64s).</summary>
    public const long MlOpsetVersion = 2;

    private const long IrVersion = 8;

    /// <summary>Graph name.</summary>
    public required string Name { get; init; }

    /// <summary>Nodes in topological order.</summary>
    public required IReadOnlyList<OnnxNode> Nodes { get; init; }

    /// <summary>Constant tensors.</summary>
    public required IReadOnlyList<OnnxTensor> Initializers { get; init; }

    /// <summary>Graph inputs.</summary>
    public required IReadOnlyList<OnnxValueInfo> Inputs { get; init; }

    /// <summary>Graph outputs.</summary>
    public required IReadOnlyList<OnnxValueInfo> Outputs { get; init; }

    /// <summary>Key/value metadata stored in the model (class names, input shape, normalization).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Serializes to the ONNX protobuf format.</summary>
    public byte[] ToBytes()
    {
        var model = new ProtoWriter();
        model.Int64(1, IrVersion);
        model.String(2, "MLNetCnn");
        model.String(3, typeof(OnnxModel).Assembly.GetName().Version?.ToString() ?? "0");
        model.Message(7, WriteGraph);
        model.Message(8, opset =>
        {
            opset.String(1, string.Empty);
            opset.Int64(2, OpsetVersion);
        });
        if (Nodes.Any(n => n.Domain == MlDomain))
        {
            model.Message(8, opset =>
            {
                opset.String(1, MlDomain);
                opset.Int64(2, MlOpsetVersion);
            });
        }
        foreach (var (key, value) in Metadata)
        {
            model.Message(14, entry =>
            {
                entry.String(1, key);
                entry.String(2, value);
            });
        }

        return model.ToArray();
    }

    private void WriteGraph(ProtoWriter g)
    {
        foreach (var n in Nodes)
        {
            g.Message(1, n.Write);
        }

        g.String(2, Name);
        foreach (var t in Initializers)
        {
            g.Message(5, t.Write);
        }

        foreach (var i in Inputs)
        {
            g.Message(11, i.Write);
        }

        foreach (var o in Outputs)
        {
            g.Message(12, o.Write);
        }
    }
}
