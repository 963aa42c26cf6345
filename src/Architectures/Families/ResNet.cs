using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>Residual block type: two 3x3 convs (ResNet-18/34) or 1x1-3x3-1x1 with 4x expansion (ResNet-50+).</summary>
public enum ResNetBlock
{
    /// <summary>Two 3x3 convolutions, expansion 1.</summary>
    Basic,

    /// <summary>1x1 reduce, 3x3 (carrying the stride: ResNet-B / torchvision v1.5), 1x1 expand by 4.</summary>
    Bottleneck,
}

/// <summary>The Bag of Tricks tweaks (He et al., 2018, section 4, Figure 2), cumulative as in the paper's Table 5.</summary>
public enum ResNetVariant
{
    /// <summary>ResNet-B: the downsampling stride in the bottleneck's 3x3 (torchvision's layout); 7x7 stride-2 stem, 1x1 strided shortcut.</summary>
    B,

    /// <summary>ResNet-C: B plus the deep stem, three 3x3 convs (stem/2, stem/2, stem width; the first with stride 2), then max pool.</summary>
    C,

    /// <summary>ResNet-D: C plus a 2x2 stride-2 average pool before a stride-1 1x1 shortcut conv, so no activations are skipped (timm's "d" models).</summary>
    D,
}

/// <summary>Where a residual unit puts its normalization and activation.</summary>
public enum ResNetUnit
{
    /// <summary>The original unit: conv-BN-ReLU inside the branch, ReLU after the addition (He et al., 2015).</summary>
    PostActivation,

    /// <summary>
    /// Full pre-activation (He et al., "Identity Mappings in Deep Residual Networks", 2016, Figure 4e):
    /// BN-ReLU-conv inside the branch, nothing after the addition, one BN-ReLU after the last stage and no
    /// stem BN (timm's <c>resnetv2</c> layout).
    /// </summary>
    PreActivation,
}

/// <summary>A ResNet as data: block type and depth per stage (paper Table 1), the Bag of Tricks variant and the unit layout.</summary>
/// <param name="Block">Block type.</param>
/// <param name="Layers">Blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18.</param>
public sealed record ResNetConfig(ResNetBlock Block, IReadOnlyList<int> Layers) : ArchitectureConfig
{
    /// <summary>ResNet-18: basic blocks (2, 2, 2, 2).</summary>
    public static ResNetConfig ResNet18 { get; } = new(ResNetBlock.Basic, [2, 2, 2, 2]);

    /// <summary>ResNet-34: basic blocks (3, 4, 6, 3).</summary>
    public static ResNetConfig ResNet34 { get; } = new(ResNetBlock.Basic, [3, 4, 6, 3]);

    /// <summary>ResNet-50: bottlenecks (3, 4, 6, 3).</summary>
    public static ResNetConfig ResNet50 { get; } = new(ResNetBlock.Bottleneck, [3, 4, 6, 3]);

    /// <summary>ResNet-101: bottlenecks (3, 4, 23, 3).</summary>
    public static ResNetConfig ResNet101 { get; } = new(ResNetBlock.Bottleneck, [3, 4, 23, 3]);

    /// <summary>ResNet-152: bottlenecks (3, 8, 36, 3).</summary>
    public static ResNetConfig ResNet152 { get; } = new(ResNetBlock.Bottleneck, [3, 8, 36, 3]);

    /// <summary>Bag of Tricks variant (B is torchvision's layout).</summary>
    public ResNetVariant Variant { get; init; } = ResNetVariant.B;

    /// <summary>Residual unit layout.</summary>
    public ResNetUnit Unit { get; init; } = ResNetUnit.PostActivation;

    /// <summary>Width of the first stage before <see cref="ArchitectureConfig.Width"/> (64 in the paper).</summary>
    public int BaseWidth { get; init; } = 64;

    /// <inheritdoc/>
    public override string Family => "ResNet";

    /// <summary>The published row of depth 18, 34, 50, 101 or 152.</summary>
    public static ResNetConfig ForDepth(int depth) => depth switch
    {
        18 => ResNet18,
        34 => ResNet34,
        50 => ResNet50,
        101 => ResNet101,
        152 => ResNet152,
        _ => throw new ArgumentOutOfRangeException(nameof(depth), depth, "ResNet depth must be 18, 34, 50, 101 or 152 (or give a ResNetConfig with your own stage depths)."),
    };

    /// <inheritdoc/>
    protected override ImageClassifier Build(ArchitectureOptions options) => new ResNet(this, options);
}

/// <summary>
/// ResNet (He et al., "Deep Residual Learning for Image Recognition", 2015; Table 1) with the Bag of
/// Tricks tweaks (He et al., 2018, section 4): ResNet-B puts the stride in the bottleneck's 3x3 (this is
/// torchvision's layout and always on), ResNet-C adds the deep stem and ResNet-D the average-pool shortcut
/// (<see cref="ResNetVariant"/>), and <see cref="ResNetUnit.PreActivation"/> gives the
/// pre-activation ResNet (<see cref="PreActBasicBlock"/>, <see cref="PreActBottleneckBlock"/>). Module names
/// follow torchvision's state_dict keys (<c>conv1</c>, <c>bn1</c>, <c>layer1.0.conv1</c>,
/// <c>layer2.0.downsample.0</c>, <c>fc</c>); the pre-activation model keeps them, without <c>bn1</c>
/// and with a final <c>norm</c>.
/// <para>Small inputs (<see cref="ArchitectureOptions.SmallInputStem"/>): one 3x3 stride-1 conv and no max pool,
/// so a 28x28 or 32x32 input still reaches the last stage at 4x4.</para>
/// </summary>
public sealed class ResNet : ImageClassifier
{
    private readonly nn.Module<Tensor, Tensor> conv1;
    private readonly BatchNorm2d? bn1;
    private readonly ReLU relu;
    private readonly nn.Module<Tensor, Tensor> maxpool;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;
    private readonly BatchNorm2d? norm;
    private readonly AdaptiveAvgPool2d avgpool;
    private Linear fc;

    /// <summary>Builds a ResNet from a variant row and the common options.</summary>
    public ResNet(ResNetConfig config, ArchitectureOptions options)
        : base(nameof(ResNet), options.InputShape(224), options.NumClasses)
    {
        if (config.Layers.Count != 4 || config.Layers.Any(n => n < 1))
        {
            throw new ArgumentException($"A ResNet needs 4 stages of at least one block; found ({string.Join(", ", config.Layers)}).", nameof(config));
        }

        var stem = options.SmallInputStem ? Stem.SmallInput : config.Variant == ResNetVariant.B ? Stem.Standard : Stem.Deep;
        int width = Math.Max(1, (int)Math.Round(config.BaseWidth * config.Width));
        int expansion = config.Block == ResNetBlock.Bottleneck ? 4 : 1;
        int c = options.InputChannels;

        conv1 = stem switch
        {
            Stem.Standard => nn.Conv2d(c, width, 7, stride: 2, padding: 3, bias: false),
            Stem.SmallInput => nn.Conv2d(c, width, 3, stride: 1, padding: 1, bias: false),
            _ => nn.Sequential(
                ("0", nn.Conv2d(c, width / 2, 3, stride: 2, padding: 1, bias: false)),
                ("1", new BatchNorm2d(width / 2)),
                ("2", nn.ReLU(inplace: true)),
                ("3", nn.Conv2d(width / 2, width / 2, 3, stride: 1, padding: 1, bias: false)),
                ("4", new BatchNorm2d(width / 2)),
                ("5", nn.ReLU(inplace: true)),
                ("6", nn.Conv2d(width / 2, width, 3, stride: 1, padding: 1, bias: false))),
        };
        bool preActivation = config.Unit == ResNetUnit.PreActivation;
        bn1 = preActivation ? null : new BatchNorm2d(width);
        relu = nn.ReLU(inplace: true);
        maxpool = stem == Stem.SmallInput ? nn.Identity() : nn.MaxPool2d(3, stride: 2, padding: 1);

        int inplanes = width;
        layer1 = MakeStage(config, ref inplanes, width, config.Layers[0], stride: 1);
        layer2 = MakeStage(config, ref inplanes, width * 2, config.Layers[1], stride: 2);
        layer3 = MakeStage(config, ref inplanes, width * 4, config.Layers[2], stride: 2);
        layer4 = MakeStage(config, ref inplanes, width * 8, config.Layers[3], stride: 2);
        NumFeatures = width * 8 * expansion;
        norm = preActivation ? new BatchNorm2d(NumFeatures) : null;
        avgpool = nn.AdaptiveAvgPool2d(1);
        fc = nn.Linear(NumFeatures, options.NumClasses);
        RegisterComponents();
        Init.KaimingConvUnitNorm(this);
    }

    private enum Stem
    {
        Standard,
        Deep,
        SmallInput,
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> HeadModuleNames { get; } = [nameof(fc)];

    /// <inheritdoc/>
    public override Tensor ForwardFeatures(Tensor input)
    {
        var x = conv1.forward(input);
        x = maxpool.forward(bn1 is null ? x : relu.forward(bn1.forward(x)));
        x = layer4.forward(layer3.forward(layer2.forward(layer1.forward(x))));
        return norm is null ? x : relu.forward(norm.forward(x));
    }

    /// <inheritdoc/>
    public override Tensor ForwardHead(Tensor features)
    {
        using var pooled = avgpool.forward(features);
        return fc.forward(pooled.flatten(1));
    }

    /// <inheritdoc/>
    public override GraphValue EmitFeatures(GraphBuilder graph, GraphValue input)
    {
        var x = graph.Apply(conv1, input);
        x = graph.Apply(maxpool, bn1 is null ? x : graph.Apply(relu, graph.Apply(bn1, x)));
        foreach (var stage in new[] { layer1, layer2, layer3, layer4 })
        {
            x = graph.Apply(stage, x);
        }

        return norm is null ? x : graph.Apply(relu, graph.Apply(norm, x));
    }

    /// <inheritdoc/>
    public override GraphValue EmitHead(GraphBuilder graph, GraphValue features) => graph.Apply(fc, graph.Flatten(graph.Apply(avgpool, features)));

    /// <inheritdoc/>
    protected override void ReplaceHead(int numClasses) => fc = ReplaceChild(nameof(fc), nn.Linear(NumFeatures, numClasses));

    private static Sequential MakeStage(ResNetConfig config, ref int inplanes, int planes, int blocks, int stride)
    {
        int expansion = config.Block == ResNetBlock.Bottleneck ? 4 : 1;
        Sequential? downsample = null;
        if (stride != 1 || inplanes != planes * expansion)
        {
            downsample = config.Unit == ResNetUnit.PreActivation
                ? PreActivationDownsample(config, inplanes, planes * expansion, stride)
                : config.Variant == ResNetVariant.D
                ? nn.Sequential(
                    ("0", stride == 1 ? nn.Identity() : nn.AvgPool2d(2, stride: 2, ceil_mode: true, count_include_pad: false)),
                    ("1", nn.Conv2d(inplanes, planes * expansion, 1, stride: 1, bias: false)),
                    ("2", new BatchNorm2d(planes * expansion)))
                : nn.Sequential(
                    ("0", nn.Conv2d(inplanes, planes * expansion, 1, stride: stride, bias: false)),
                    ("1", new BatchNorm2d(planes * expansion)));
        }

        var modules = new List<(string, nn.Module<Tensor, Tensor>)>();
        for (int i = 0; i < blocks; i++)
        {
            var (blockStride, blockDownsample) = i == 0 ? (stride, downsample) : (1, null);
            nn.Module<Tensor, Tensor> block = (config.Block, config.Unit) switch
            {
                (ResNetBlock.Bottleneck, ResNetUnit.PreActivation) => new PreActBottleneckBlock(inplanes, planes, blockStride, blockDownsample),
                (ResNetBlock.Basic, ResNetUnit.PreActivation) => new PreActBasicBlock(inplanes, planes, blockStride, blockDownsample),
                (ResNetBlock.Bottleneck, _) => new BottleneckBlock(inplanes, planes, blockStride, blockDownsample),
                _ => new BasicBlock(inplanes, planes, blockStride, blockDownsample),
            };
            modules.Add((i.ToString(System.Globalization.CultureInfo.InvariantCulture), block));
            inplanes = planes * expansion;
        }

        return nn.Sequential(modules);
    }

    /// <summary>Pre-activation shortcut: the block's first BN-ReLU feeds it, so it needs no norm of its own.</summary>
    private static Sequential PreActivationDownsample(ResNetConfig config, int inChannels, int outChannels, int stride) =>
        config.Variant == ResNetVariant.D
            ? nn.Sequential(
                ("0", stride == 1 ? nn.Identity() : nn.AvgPool2d(2, stride: 2, ceil_mode: true, count_include_pad: false)),
                ("1", nn.Conv2d(inChannels, outChannels, 1, stride: 1, bias: false)))
            : nn.Sequential(("0", nn.Conv2d(inChannels, outChannels, 1, stride: stride, bias: false)));
}

/// <summary>Two 3x3 convolutions with an identity (or projection) shortcut.</summary>
public sealed class BasicBlock : nn.Module<Tensor, Tensor>, IGraphEmitter, IZeroInitLastNorm
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? downsample;

    /// <summary>Creates the block.</summary>
    public BasicBlock(int inplanes, int planes, int stride, Sequential? downsample)
        : base(nameof(BasicBlock))
    {
        conv1 = nn.Conv2d(inplanes, planes, 3, stride: stride, padding: 1, bias: false);
        bn1 = new BatchNorm2d(planes);
        relu = nn.ReLU(inplace: true);
        conv2 = nn.Conv2d(planes, planes, 3, stride: 1, padding: 1, bias: false);
        bn2 = new BatchNorm2d(planes);
        this.downsample = downsample;
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        var identity = downsample is null ? input : StridedPointwise.Forward(downsample, input);
        var x = relu.forward(bn1.forward(conv1.forward(input)));
        x = bn2.forward(conv2.forward(x));
        return relu.forward(x.add_(identity, Scalars.One));
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        var identity = downsample is null ? input : graph.Apply(downsample, input);
        var x = graph.Apply(relu, graph.Apply(bn1, graph.Apply(conv1, input)));
        x = graph.Apply(bn2, graph.Apply(conv2, x));
        return graph.Apply(relu, graph.Add(x, identity));
    }

    /// <inheritdoc/>
    public void ZeroInitLastNorm() => Init.ZeroGamma(bn2);
}

/// <summary>1x1 reduce, 3x3 (with the stride), 1x1 expand by 4, with an identity (or projection) shortcut.</summary>
public sealed class BottleneckBlock : nn.Module<Tensor, Tensor>, IGraphEmitter, IZeroInitLastNorm
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Conv2d conv3;
    private readonly BatchNorm2d bn3;
    private readonly ReLU relu;
    private readonly Sequential? downsample;

    /// <summary>Creates the block.</summary>
    public BottleneckBlock(int inplanes, int planes, int stride, Sequential? downsample)
        : base(nameof(BottleneckBlock))
    {
        conv1 = nn.Conv2d(inplanes, planes, 1, bias: false);
        bn1 = new BatchNorm2d(planes);
        conv2 = nn.Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false);
        bn2 = new BatchNorm2d(planes);
        conv3 = nn.Conv2d(planes, planes * 4, 1, bias: false);
        bn3 = new BatchNorm2d(planes * 4);
        relu = nn.ReLU(inplace: true);
        this.downsample = downsample;
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        var identity = downsample is null ? input : StridedPointwise.Forward(downsample, input);
        var x = relu.forward(bn1.forward(conv1.forward(input)));
        x = relu.forward(bn2.forward(conv2.forward(x)));
        x = bn3.forward(conv3.forward(x));
        return relu.forward(x.add_(identity, Scalars.One));
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        var identity = downsample is null ? input : graph.Apply(downsample, input);
        var x = graph.Apply(relu, graph.Apply(bn1, graph.Apply(conv1, input)));
        x = graph.Apply(relu, graph.Apply(bn2, graph.Apply(conv2, x)));
        x = graph.Apply(bn3, graph.Apply(conv3, x));
        return graph.Apply(relu, graph.Add(x, identity));
    }

    /// <inheritdoc/>
    public void ZeroInitLastNorm() => Init.ZeroGamma(bn3);
}
