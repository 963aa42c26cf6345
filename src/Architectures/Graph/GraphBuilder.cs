using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Graph;

/// <summary>
/// Walks a TorchSharp module tree in eval mode and records it as an ONNX graph plus one
/// <see cref="LayerCost"/> row per leaf layer. Composite modules describe themselves through
/// <see cref="IGraphEmitter"/>; <see cref="Sequential"/> is walked in order; leaves are translated here.
/// Names follow the module paths, so initializers carry the state_dict keys.
/// </summary>
public sealed class GraphBuilder
{
    private readonly bool _withWeights;
    private readonly List<OnnxNode> _nodes = new();
    private readonly List<OnnxTensor> _initializers = new();
    private readonly List<LayerCost> _layers = new();
    private readonly Stack<(nn.Module Module, string Path)> _scope = new();
    private readonly Dictionary<string, int> _names = new(StringComparer.Ordinal);

    /// <summary>Creates a builder.</summary>
    /// <param name="withWeights">Copy parameter and buffer values into initializers (needed for export, not for costing).</param>
    public GraphBuilder(bool withWeights)
    {
        _withWeights = withWeights;
    }

    /// <summary>Nodes emitted so far, in order.</summary>
    public IReadOnlyList<OnnxNode> Nodes => _nodes;

    /// <summary>Constant tensors emitted so far.</summary>
    public IReadOnlyList<OnnxTensor> Initializers => _initializers;

    /// <summary>Cost rows of the leaf layers, in execution order.</summary>
    public IReadOnlyList<LayerCost> Layers => _layers;

    /// <summary>Emits <paramref name="root"/> as the top-level module (its children get unprefixed names).</summary>
    public GraphValue Run(nn.Module root, GraphValue input) => ApplyAt(root, string.Empty, input);

    /// <summary>Emits the embedding of <paramref name="model"/> (<see cref="ImageClassifier.EmitEmbedding"/>) as the top-level module.</summary>
    public GraphValue RunEmbedding(ImageClassifier model, GraphValue input)
    {
        _scope.Push((model, string.Empty));
        try
        {
            return model.EmitEmbedding(this, input);
        }
        finally
        {
            _scope.Pop();
        }
    }

    /// <summary>
    /// Emits a direct child of the module currently being emitted; its name is looked up among the
    /// parent's registered children, so graph names always match state_dict keys.
    /// </summary>
    public GraphValue Apply(nn.Module child, GraphValue input)
    {
        return ApplyAt(child, Join(CurrentPath, ChildName(child)), input);
    }

    /// <summary>
    /// Emits a direct child of the module currently being emitted with <paramref name="emit"/> instead of the
    /// child's own description, under the child's name (a wrapper emitting only the features of the network it wraps).
    /// </summary>
    public GraphValue Within(nn.Module child, GraphValue input, Func<GraphValue, GraphValue> emit)
    {
        string path = Join(CurrentPath, ChildName(child));
        _scope.Push((child, path));
        try
        {
            return emit(input);
        }
        finally
        {
            _scope.Pop();
        }
    }

    /// <summary>Global average pooling of a [C, H, W] value to [C, 1, 1] (the embedding of a feature map).</summary>
    public GraphValue GlobalAveragePool(GraphValue x) => Node("GlobalAveragePool", "global_pool", new[] { x.Name }, new[] { x.Shape[0], 1L, 1L });

    /// <summary>Element-wise sum of two values of the same shape (residual connections).</summary>
    public GraphValue Add(GraphValue a, GraphValue b)
    {
        if (!a.Shape.SequenceEqual(b.Shape))
        {
            throw new InvalidOperationException($"Add at '{CurrentPath}': shapes {a.ShapeText} and {b.ShapeText} differ.");
        }

        return Node("Add", "add", new[] { a.Name, b.Name }, a.Shape);
    }

    /// <summary>ReLU without a module (for blocks that apply a shared activation after a residual add).</summary>
    public GraphValue Relu(GraphValue x) => Node("Relu", "relu", new[] { x.Name }, x.Shape);

    /// <summary>Flattens everything but the batch dimension.</summary>
    public GraphValue Flatten(GraphValue x) =>
        Node("Flatten", "flatten", new[] { x.Name }, new[] { x.Shape.Aggregate(1L, (p, d) => p * d) }, new OnnxAttribute("axis", Int: 1));

    /// <summary>Concatenates along the channel axis.</summary>
    public GraphValue ConcatChannels(params GraphValue[] values)
    {
        long channels = values.Sum(v => v.Shape[0]);
        var shape = new List<long> { channels };
        shape.AddRange(values[0].Shape.Skip(1));
        return Node("Concat", "cat", values.Select(v => v.Name).ToArray(), shape, new OnnxAttribute("axis", Int: 1));
    }

    /// <summary>Element-wise product with ONNX broadcasting (squeeze-excitation: [C, H, W] times [C, 1, 1]).</summary>
    public GraphValue Mul(GraphValue a, GraphValue b)
    {
        if (a.Shape.Count != b.Shape.Count || a.Shape.Zip(b.Shape).Any(p => p.First != p.Second && p.Second != 1))
        {
            throw new InvalidOperationException($"Mul at '{CurrentPath}': shape {b.ShapeText} does not broadcast to {a.ShapeText}.");
        }

        return Node("Mul", "mul", new[] { a.Name, b.Name }, a.Shape);
    }

    /// <summary>ShuffleNet's channel shuffle: reshape [N, g, C/g, H, W], swap the two channel axes, reshape back.</summary>
    public GraphValue ChannelShuffle(GraphValue x, int groups)
    {
        long c = x.Shape[0];
        if (x.Shape.Count != 3 || c % groups != 0)
        {
            throw new InvalidOperationException($"Channel shuffle at '{CurrentPath}': {x.ShapeText} does not split into {groups} groups.");
        }

        string grouped = Constant("shuffle_shape", new long[] { 5 }, new long[] { 0, groups, c / groups, x.Shape[1], x.Shape[2] });
        var split = Node("Reshape", "shuffle_split", new[] { x.Name, grouped }, new[] { groups, c / groups, x.Shape[1], x.Shape[2] });
        var swapped = Node("Transpose", "shuffle_transpose", new[] { split.Name }, new[] { c / groups, groups, x.Shape[1], x.Shape[2] }, new OnnxAttribute("perm", Ints: new long[] { 0, 2, 1, 3, 4 }));
        string flat = Constant("shuffle_merge", new long[] { 4 }, new long[] { 0, c, x.Shape[1], x.Shape[2] });
        return Node("Reshape", "shuffle", new[] { swapped.Name, flat }, x.Shape);
    }

    /// <summary>Splits the channels into <paramref name="parts"/> equal chunks (PyTorch's <c>chunk(parts, dim: 1)</c>).</summary>
    public IReadOnlyList<GraphValue> SplitChannels(GraphValue x, int parts)
    {
        long c = x.Shape[0];
        if (c % parts != 0)
        {
            throw new InvalidOperationException($"Split at '{CurrentPath}': {c} channels do not split into {parts} equal parts.");
        }

        string sizes = Constant("split_sizes", new long[] { parts }, Enumerable.Repeat(c / parts, parts).ToArray());
        string name = UniqueName(Join(CurrentPath, "split"));
        var outputs = Enumerable.Range(0, parts).Select(i => $"{name}_{i}").ToArray();
        _nodes.Add(new OnnxNode("Split", name, new[] { x.Name, sizes }, outputs, new[] { new OnnxAttribute("axis", Int: 1) }));
        var shape = new List<long> { c / parts };
        shape.AddRange(x.Shape.Skip(1));
        return outputs.Select(o => new GraphValue(o, shape.ToArray())).ToArray();
    }

    /// <summary>Adds a float constant (for example normalization statistics) and returns its name.</summary>
    public string Constant(string name, long[] dims, float[] values)
    {
        string unique = UniqueName(Join(CurrentPath, name));
        _initializers.Add(new OnnxTensor(unique, dims, FloatData: values));
        return unique;
    }

    /// <summary>Adds an int64 constant (shapes, axes) and returns its name.</summary>
    public string Constant(string name, long[] dims, long[] values)
    {
        string unique = UniqueName(Join(CurrentPath, name));
        _initializers.Add(new OnnxTensor(unique, dims, Int64Data: values));
        return unique;
    }

    /// <summary>Emits one ONNX node with one output and returns it.</summary>
    public GraphValue Node(string opType, string suffix, IReadOnlyList<string> inputs, IReadOnlyList<long> outputShape, params OnnxAttribute[] attributes)
    {
        string name = UniqueName(Join(CurrentPath, suffix));
        _nodes.Add(new OnnxNode(opType, name, inputs, new[] { name }, attributes));
        return new GraphValue(name, outputShape.ToArray());
    }

    private string ChildName(nn.Module child)
    {
        var (parent, path) = _scope.Peek();
        foreach (var (childName, module) in parent.named_children())
        {
            if (ReferenceEquals(module, child))
            {
                return childName;
            }
        }

        throw new InvalidOperationException($"Module '{child.GetName()}' is not a registered child of '{(path.Length == 0 ? parent.GetName() : path)}'. Call RegisterComponents() in the constructor.");
    }

    private string CurrentPath => _scope.Count == 0 ? string.Empty : _scope.Peek().Path;

    private GraphValue ApplyAt(nn.Module module, string path, GraphValue input)
    {
        _scope.Push((module, path));
        try
        {
            switch (module)
            {
                case IGraphEmitter emitter:
                    return emitter.Emit(this, input);
                case Sequential sequential:
                    var value = input;
                    foreach (var (name, child) in sequential.named_children())
                    {
                        value = ApplyAt(child, Join(path, name), value);
                    }

                    return value;
                default:
                    return EmitLeaf(module, path, input);
            }
        }
        finally
        {
            _scope.Pop();
        }
    }

    private GraphValue EmitLeaf(nn.Module module, string path, GraphValue x)
    {
        GraphValue y = module switch
        {
            Conv2d conv => EmitConv(conv, path, x),
            TorchSharp.Modules.BatchNorm bn => EmitBatchNorm(bn, path, x),
            Linear linear => EmitLinear(linear, path, x),
            ReLU => Node("Relu", string.Empty, new[] { x.Name }, x.Shape),
            ReLU6 => Node("Clip", string.Empty, new[] { x.Name, Constant("min", Array.Empty<long>(), new[] { 0f }), Constant("max", Array.Empty<long>(), new[] { 6f }) }, x.Shape),
            SiLU => EmitSiLU(x),
            Sigmoid => Node("Sigmoid", string.Empty, new[] { x.Name }, x.Shape),
            MaxPool2d pool => EmitPool("MaxPool", path, x, pool.kernel_size, pool.stride ?? pool.kernel_size, pool.padding ?? new long[] { 0, 0 }, pool.ceil_mode, countIncludePad: null),
            AvgPool2d pool => EmitPool("AveragePool", path, x, pool.kernel_size, pool.stride ?? pool.kernel_size, pool.padding ?? new long[] { 0, 0 }, pool.ceil_mode, pool.count_include_pad),
            AdaptiveAvgPool2d pool => EmitGlobalAveragePool(pool, path, x),
            Flatten flatten when flatten.start_dim == 1 && flatten.end_dim == -1 => Flatten(x),
            Dropout or Identity => x,
            _ => throw new NotSupportedException($"Layer '{path}' of type {module.GetType().Name} has no ONNX/cost translation; implement {nameof(IGraphEmitter)} on it."),
        };

        if (!ReferenceEquals(y, x))
        {
            _layers.Add(new LayerCost(path, module.GetType().Name, y.Shape, CountParameters(module), Macs(module, x, y)));
        }

        return y;
    }

    private GraphValue EmitConv(Conv2d conv, string path, GraphValue x)
    {
        if (x.Shape.Count != 3 || x.Shape[0] != conv.in_channels)
        {
            throw new InvalidOperationException($"Conv2d '{path}' expects {conv.in_channels} input channels, found shape {x.ShapeText}.");
        }

        long[] k = conv.kernel_size;
        long[] s = conv.stride;
        long[] d = conv.dilation;
        long[] p = conv.padding ?? throw new NotSupportedException($"Conv2d '{path}': only explicit padding is exported.");
        long h = FloorDiv(x.Shape[1] + (2 * p[0]) - (d[0] * (k[0] - 1)) - 1, s[0]) + 1;
        long w = FloorDiv(x.Shape[2] + (2 * p[1]) - (d[1] * (k[1] - 1)) - 1, s[1]) + 1;
        if (h <= 0 || w <= 0)
        {
            throw new InputTooSmallException($"Conv2d '{path}' has a {k[0]}x{k[1]} kernel (dilation {d[0]}, padding {p[0]}) larger than its padded {x.Shape[1]}x{x.Shape[2]} input");
        }

        var inputs = new List<string> { x.Name, Weight(path, "weight", conv.weight!) };
        if (conv.bias is not null)
        {
            inputs.Add(Weight(path, "bias", conv.bias));
        }

        return Node("Conv", string.Empty, inputs, new[] { conv.out_channels, h, w },
            new OnnxAttribute("kernel_shape", Ints: k),
            new OnnxAttribute("strides", Ints: s),
            new OnnxAttribute("pads", Ints: new[] { p[0], p[1], p[0], p[1] }),
            new OnnxAttribute("dilations", Ints: d),
            new OnnxAttribute("group", Int: conv.groups));
    }

    private GraphValue EmitBatchNorm(TorchSharp.Modules.BatchNorm bn, string path, GraphValue x)
    {
        if (bn.weight is null || bn.bias is null || bn.running_mean is null || bn.running_var is null)
        {
            throw new NotSupportedException($"BatchNorm2d '{path}': export needs affine=true and tracked running statistics.");
        }

        return Node("BatchNormalization", string.Empty,
            new[] { x.Name, Weight(path, "weight", bn.weight), Weight(path, "bias", bn.bias), Weight(path, "running_mean", bn.running_mean), Weight(path, "running_var", bn.running_var) },
            x.Shape, new OnnxAttribute("epsilon", Float: (float)bn.eps));
    }

    private GraphValue EmitLinear(Linear linear, string path, GraphValue x)
    {
        if (x.Shape.Count != 1 || x.Shape[0] != linear.in_features)
        {
            throw new InvalidOperationException($"Linear '{path}' expects {linear.in_features} input features, found shape {x.ShapeText}.");
        }

        var inputs = new List<string> { x.Name, Weight(path, "weight", linear.weight!) };
        if (linear.bias is not null)
        {
            inputs.Add(Weight(path, "bias", linear.bias));
        }

        return Node("Gemm", string.Empty, inputs, new[] { linear.out_features }, new OnnxAttribute("transB", Int: 1));
    }

    private GraphValue EmitSiLU(GraphValue x)
    {
        var sigmoid = Node("Sigmoid", "sigmoid", new[] { x.Name }, x.Shape);
        return Node("Mul", string.Empty, new[] { x.Name, sigmoid.Name }, x.Shape);
    }

    private GraphValue EmitPool(string op, string path, GraphValue x, long[] kernel, long[] stride, long[] pad, bool ceilMode, bool? countIncludePad)
    {
        long h = PoolOutput(x.Shape[1], kernel[0], stride[0], pad[0], ceilMode);
        long w = PoolOutput(x.Shape[2], kernel[^1], stride[^1], pad[^1], ceilMode);
        var attributes = new List<OnnxAttribute>
        {
            new("kernel_shape", Ints: new[] { kernel[0], kernel[^1] }),
            new("strides", Ints: new[] { stride[0], stride[^1] }),
            new("pads", Ints: new[] { pad[0], pad[^1], pad[0], pad[^1] }),
            new("ceil_mode", Int: ceilMode ? 1 : 0),
        };
        if (countIncludePad is { } include)
        {
            attributes.Add(new("count_include_pad", Int: include ? 1 : 0));
        }

        if (h <= 0 || w <= 0)
        {
            throw new InputTooSmallException($"{op} '{path}' ({kernel[0]}x{kernel[^1]}, stride {stride[0]}) shrinks its {x.ShapeText} input to nothing");
        }

        return Node(op, string.Empty, new[] { x.Name }, new[] { x.Shape[0], h, w }, attributes.ToArray());
    }

    private GraphValue EmitGlobalAveragePool(AdaptiveAvgPool2d pool, string path, GraphValue x)
    {
        long outH = pool.output_size[0];
        long outW = pool.output_size[^1];
        if (outH == 1 && outW == 1)
        {
            return Node("GlobalAveragePool", string.Empty, new[] { x.Name }, new[] { x.Shape[0], 1L, 1L });
        }

        if (outH == x.Shape[1] && outW == x.Shape[2])
        {
            return Node("Identity", string.Empty, new[] { x.Name }, x.Shape);
        }

        // Any other output size (VGG's 7x7 on a small input): PyTorch's bins [floor(i*H/n), ceil((i+1)*H/n))
        // as two constant averaging matrices, Y = A_h X A_w^T, which is exact for every input size.
        string rows = Constant("rows", new[] { outH, x.Shape[1] }, AdaptiveBins(outH, x.Shape[1], transpose: false));
        string cols = Constant("cols", new[] { x.Shape[2], outW }, AdaptiveBins(outW, x.Shape[2], transpose: true));
        var pooledRows = Node("MatMul", "rows_pool", new[] { rows, x.Name }, new[] { x.Shape[0], outH, x.Shape[2] });
        return Node("MatMul", string.Empty, new[] { pooledRows.Name, cols }, new[] { x.Shape[0], outH, outW });
    }

    private static float[] AdaptiveBins(long output, long input, bool transpose)
    {
        var matrix = new float[output * input];
        for (long i = 0; i < output; i++)
        {
            long start = i * input / output;
            long end = (((i + 1) * input) + output - 1) / output;
            for (long j = start; j < end; j++)
            {
                matrix[transpose ? (j * output) + i : (i * input) + j] = 1f / (end - start);
            }
        }

        return matrix;
    }

    /// <summary>PyTorch's pooling output size rule (the last window must start inside the padded input).</summary>
    private static long PoolOutput(long size, long kernel, long stride, long pad, bool ceilMode)
    {
        long numerator = size + (2 * pad) - kernel + (ceilMode ? stride - 1 : 0);
        long output = FloorDiv(numerator, stride) + 1;
        if (ceilMode && (output - 1) * stride >= size + pad)
        {
            output--;
        }

        return output;
    }

    /// <summary>Division rounding toward negative infinity, as PyTorch's size rules use (C# rounds toward zero, which turns a window larger than its input into one output).</summary>
    private static long FloorDiv(long numerator, long denominator) => (numerator / denominator) - ((numerator % denominator) < 0 ? 1 : 0);

    private string Weight(string path, string name, Tensor tensor)
    {
        string key = Join(path, name);
        float[] data = _withWeights ? ToFloatArray(tensor) : Array.Empty<float>();
        _initializers.Add(new OnnxTensor(key, tensor.shape, FloatData: data));
        return key;
    }

    private static float[] ToFloatArray(Tensor tensor)
    {
        using var scope = NewDisposeScope();
        return tensor.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
    }

    private static long CountParameters(nn.Module module) => module.parameters(recurse: false).Sum(p => p.numel());

    private static long Macs(nn.Module module, GraphValue x, GraphValue y) => module switch
    {
        Conv2d conv => y.Shape.Aggregate(1L, (p, d) => p * d) * (conv.in_channels / conv.groups) * conv.kernel_size.Aggregate(1L, (p, d) => p * d),
        Linear linear => linear.in_features * linear.out_features,
        _ => 0,
    };

    private string UniqueName(string name)
    {
        if (name.Length == 0)
        {
            name = "value";
        }

        if (_names.TryGetValue(name, out int count))
        {
            _names[name] = count + 1;
            return $"{name}_{count + 1}";
        }

        _names[name] = 0;
        return name;
    }

    private static string Join(string prefix, string name) =>
        prefix.Length == 0 ? name : name.Length == 0 ? prefix : $"{prefix}.{name}";
}
