using System.Globalization;
using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>Xception as data: one published network (<see cref="ArchitectureConfig.Width"/> scales every layer).</summary>
public sealed record XceptionConfig : ArchitectureConfig
{
    /// <summary>The published network.</summary>
    public static XceptionConfig Default { get; } = new();

    /// <inheritdoc/>
    public override string Family => "Xception";

    /// <inheritdoc/>
    public override int NativeInputSize => 299;

    /// <inheritdoc/>
    protected override ImageClassifier Build(ArchitectureOptions options) => new Xception(this, options);
}

/// <summary>
/// Xception (Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", 2017, Figure 5),
/// written out literally: the entry flow (two convs, then blocks 1-3 down to 19x19 at 728 channels), the
/// middle flow (blocks 4-11, eight residual blocks of three separable convs at 728) and the exit flow
/// (block 12 to 1024, then separable convs to 1536 and 2048), global pooling, dropout 0.5 and a linear
/// classifier. No torchvision model exists; names follow timm's <c>legacy_xception</c>
/// (<c>conv1</c>, <c>block1.rep.0.conv1</c>, <c>block1.skipbn</c>, <c>conv4.pointwise</c>, <c>fc</c>).
/// <para>Small inputs: 32x32 already passes (the exit flow sees 1x1). <see cref="ArchitectureOptions.SmallInputStem"/>
/// gives conv1 stride 1 (32x32 -> 2x2 in the exit flow).</para>
/// </summary>
public sealed class Xception : ImageClassifier
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU act1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly ReLU act2;
    private readonly XceptionBlock block1;
    private readonly XceptionBlock block2;
    private readonly XceptionBlock block3;
    private readonly XceptionBlock block4;
    private readonly XceptionBlock block5;
    private readonly XceptionBlock block6;
    private readonly XceptionBlock block7;
    private readonly XceptionBlock block8;
    private readonly XceptionBlock block9;
    private readonly XceptionBlock block10;
    private readonly XceptionBlock block11;
    private readonly XceptionBlock block12;
    private readonly SeparableConv2d conv3;
    private readonly BatchNorm2d bn3;
    private readonly ReLU act3;
    private readonly SeparableConv2d conv4;
    private readonly BatchNorm2d bn4;
    private readonly ReLU act4;
    private readonly AdaptiveAvgPool2d global_pool;
    private readonly Dropout dropout;
    private Linear fc;

    /// <summary>Builds Xception.</summary>
    public Xception(XceptionConfig config, ArchitectureOptions options)
        : base(nameof(Xception), options.InputShape(299), options.NumClasses)
    {
        int W(int c) => config.Scaled(c);

        // Entry flow.
        conv1 = nn.Conv2d(options.InputChannels, W(32), 3, stride: options.SmallInputStem ? 1 : 2, bias: false); // N x 32 x 149 x 149
        bn1 = new BatchNorm2d(W(32));
        act1 = nn.ReLU(inplace: true);
        conv2 = nn.Conv2d(W(32), W(64), 3, bias: false);                                                       // N x 64 x 147 x 147
        bn2 = new BatchNorm2d(W(64));
        act2 = nn.ReLU(inplace: true);
        block1 = new XceptionBlock(W(64), W(128), 2, stride: 2, startWithRelu: false);                          // N x 128 x 74 x 74
        block2 = new XceptionBlock(W(128), W(256), 2, stride: 2);                                              // N x 256 x 37 x 37
        block3 = new XceptionBlock(W(256), W(728), 2, stride: 2);                                              // N x 728 x 19 x 19

        // Middle flow: eight identical residual blocks, N x 728 x 19 x 19.
        block4 = new XceptionBlock(W(728), W(728), 3, stride: 1);
        block5 = new XceptionBlock(W(728), W(728), 3, stride: 1);
        block6 = new XceptionBlock(W(728), W(728), 3, stride: 1);
        block7 = new XceptionBlock(W(728), W(728), 3, stride: 1);
        block8 = new XceptionBlock(W(728), W(728), 3, stride: 1);
        block9 = new XceptionBlock(W(728), W(728), 3, stride: 1);
        block10 = new XceptionBlock(W(728), W(728), 3, stride: 1);
        block11 = new XceptionBlock(W(728), W(728), 3, stride: 1);

        // Exit flow.
        block12 = new XceptionBlock(W(728), W(1024), 2, stride: 2, growFirst: false);                          // N x 1024 x 10 x 10
        conv3 = new SeparableConv2d(W(1024), W(1536));
        bn3 = new BatchNorm2d(W(1536));
        act3 = nn.ReLU(inplace: true);
        conv4 = new SeparableConv2d(W(1536), W(2048));                                                         // N x 2048 x 10 x 10
        bn4 = new BatchNorm2d(W(2048));
        act4 = nn.ReLU(inplace: true);
        global_pool = nn.AdaptiveAvgPool2d(1);
        dropout = nn.Dropout(0.5);
        NumFeatures = W(2048);
        fc = nn.Linear(NumFeatures, options.NumClasses);
        RegisterComponents();
        Init.KaimingConvUnitNorm(this);
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> HeadModuleNames { get; } = [nameof(fc)];

    private nn.Module<Tensor, Tensor>[] Body => new nn.Module<Tensor, Tensor>[]
    {
        conv1, bn1, act1, conv2, bn2, act2,
        block1, block2, block3, block4, block5, block6, block7, block8, block9, block10, block11, block12,
        conv3, bn3, act3, conv4, bn4, act4,
    };

    /// <inheritdoc/>
    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        return Body.Aggregate(input, (v, m) => m.forward(v)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override Tensor ForwardHead(Tensor features)
    {
        using var scope = NewDisposeScope();
        return fc.forward(dropout.forward(global_pool.forward(features).flatten(1))).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override GraphValue EmitFeatures(GraphBuilder graph, GraphValue input) => Body.Aggregate(input, (v, m) => graph.Apply(m, v));

    /// <inheritdoc/>
    public override GraphValue EmitHead(GraphBuilder graph, GraphValue features) => graph.Apply(fc, graph.Flatten(graph.Apply(global_pool, features)));

    /// <inheritdoc/>
    protected override void ReplaceHead(int numClasses) => fc = ReplaceChild(nameof(fc), nn.Linear(NumFeatures, numClasses));
}

/// <summary>
/// Xception's residual block: <c>reps</c> x (ReLU, 3x3 separable conv, BN), a 3x3 stride-2 max pool when
/// strided, and a 1x1 conv + BN shortcut when the shape changes (identity otherwise).
/// </summary>
public sealed class XceptionBlock : nn.Module<Tensor, Tensor>, IGraphEmitter, IZeroInitLastNorm
{
    private readonly Sequential rep;
    private readonly Conv2d? skip;
    private readonly BatchNorm2d? skipbn;
    private readonly BatchNorm2d lastNorm;

    /// <summary>Creates the block; <paramref name="growFirst"/> puts the width change in the first (true) or last separable conv.</summary>
    public XceptionBlock(int inChannels, int outChannels, int reps, int stride, bool startWithRelu = true, bool growFirst = true)
        : base(nameof(XceptionBlock))
    {
        if (outChannels != inChannels || stride != 1)
        {
            skip = nn.Conv2d(inChannels, outChannels, 1, stride: stride, bias: false);
            skipbn = new BatchNorm2d(outChannels);
        }

        var layers = new List<nn.Module<Tensor, Tensor>>();
        BatchNorm2d? norm = null;
        for (int i = 0; i < reps; i++)
        {
            int from = growFirst ? (i == 0 ? inChannels : outChannels) : inChannels;
            int to = growFirst || i == reps - 1 ? outChannels : inChannels;

            // The first ReLU must not act in place: the block input is also the shortcut.
            layers.Add(nn.ReLU(inplace: i > 0));
            layers.Add(new SeparableConv2d(from, to));
            norm = new BatchNorm2d(to);
            layers.Add(norm);
        }

        if (!startWithRelu)
        {
            layers.RemoveAt(0);
        }

        if (stride != 1)
        {
            layers.Add(nn.MaxPool2d(3, stride: stride, padding: 1));
        }

        lastNorm = norm!;
        rep = nn.Sequential(layers.Select((m, i) => (i.ToString(CultureInfo.InvariantCulture), m)));
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var shortcut = skip is null ? input : skipbn!.forward(StridedPointwise.Forward(skip, input));
        return rep.forward(input).add_(shortcut, Scalars.One).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        var shortcut = skip is null ? input : graph.Apply(skipbn!, graph.Apply(skip, input));
        return graph.Add(graph.Apply(rep, input), shortcut);
    }

    /// <inheritdoc/>
    public void ZeroInitLastNorm()
    {
        if (skip is null)
        {
            Init.ZeroGamma(lastNorm);
        }
    }
}

/// <summary>Xception registry rows (<see cref="XceptionConfig"/>).</summary>
public static class XceptionVariants
{
    /// <summary>Registry rows for the Xception family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return new("xception", XceptionConfig.Default, new(22_855_952, 8.357, 0, "PAPER, COMP on TIMM"));
        }
    }
}
