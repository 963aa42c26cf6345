using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>GoogLeNet as data: with or without the auxiliary classifiers (<see cref="ArchitectureConfig.Width"/> scales every module).</summary>
public sealed record GoogLeNetConfig : ArchitectureConfig
{
    /// <summary>The published network, with its two auxiliary classifiers.</summary>
    public static GoogLeNetConfig Default { get; } = new();

    /// <summary>Build the training-only auxiliary classifiers on 4a and 4d.</summary>
    public bool AuxiliaryHeads { get; init; } = true;

    /// <inheritdoc/>
    public override string Family => "GoogLeNet";

    /// <inheritdoc/>
    protected override ImageClassifier Build(ArchitectureOptions options) => new GoogLeNet(this, options);
}

/// <summary>
/// GoogLeNet / Inception v1 (Szegedy et al., "Going Deeper with Convolutions", 2014, Table 1), with batch
/// norm as in torchvision, written out literally. Nine <see cref="InceptionModule"/>s; two auxiliary
/// classifiers on 4a and 4d exist in training only (loss weight 0.3, section 5): they add parameters
/// but never run in eval, in the exported graph or in the MAC count. Names follow torchvision
/// (<c>conv1.conv</c>, <c>inception4a.branch2.1.bn</c>, <c>aux1.fc1</c>, <c>fc</c>); torchvision's 3x3
/// (not 5x5) in branch 3 is kept so its checkpoints load.
/// <para>Small inputs: 224 -> 7x7 at inception5; 32x32 -> 1x1. <see cref="ArchitectureOptions.SmallInputStem"/>
/// gives conv1 stride 1 and drops maxpool1 (32x32 -> 4x4 at inception4, 2x2 at inception5).</para>
/// </summary>
public sealed class GoogLeNet : ImageClassifier, IAuxiliaryHeads
{
    private const double AuxiliaryLossWeight = 0.3;

    private readonly BasicConv2d conv1;
    private readonly nn.Module<Tensor, Tensor> maxpool1;
    private readonly BasicConv2d conv2;
    private readonly BasicConv2d conv3;
    private readonly MaxPool2d maxpool2;
    private readonly InceptionModule inception3a;
    private readonly InceptionModule inception3b;
    private readonly MaxPool2d maxpool3;
    private readonly InceptionModule inception4a;
    private readonly InceptionModule inception4b;
    private readonly InceptionModule inception4c;
    private readonly InceptionModule inception4d;
    private readonly InceptionModule inception4e;
    private readonly MaxPool2d maxpool4;
    private readonly InceptionModule inception5a;
    private readonly InceptionModule inception5b;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Dropout dropout;
    private GoogLeNetAux? aux1;
    private GoogLeNetAux? aux2;
    private Linear fc;

    /// <summary>Builds GoogLeNet, with or without its auxiliary heads.</summary>
    public GoogLeNet(GoogLeNetConfig config, ArchitectureOptions options)
        : base(nameof(GoogLeNet), options.InputShape(224), options.NumClasses)
    {
        int W(int c) => config.Scaled(c);
        InceptionModule I(int i, int c1, int c3r, int c3, int c5r, int c5, int pool) => new(W(i), W(c1), W(c3r), W(c3), W(c5r), W(c5), W(pool));
        bool small = options.SmallInputStem;

        conv1 = new BasicConv2d(options.InputChannels, W(64), 7, stride: small ? 1 : 2, padding: 3); // N x 64 x 112 x 112
        maxpool1 = small ? nn.Identity() : nn.MaxPool2d(3, stride: 2, ceil_mode: true);        // N x 64 x 56 x 56
        conv2 = new BasicConv2d(W(64), W(64), 1);
        conv3 = new BasicConv2d(W(64), W(192), 3, padding: 1);                                   // N x 192 x 56 x 56
        maxpool2 = nn.MaxPool2d(3, stride: 2, ceil_mode: true);                                   // N x 192 x 28 x 28
        inception3a = I(192, 64, 96, 128, 16, 32, 32);                                            // N x 256 x 28 x 28
        inception3b = I(256, 128, 128, 192, 32, 96, 64);                                          // N x 480 x 28 x 28
        maxpool3 = nn.MaxPool2d(3, stride: 2, ceil_mode: true);                                   // N x 480 x 14 x 14
        inception4a = I(480, 192, 96, 208, 16, 48, 64);                                           // N x 512 x 14 x 14
        inception4b = I(512, 160, 112, 224, 24, 64, 64);
        inception4c = I(512, 128, 128, 256, 24, 64, 64);
        inception4d = I(512, 112, 144, 288, 32, 64, 64);                                          // N x 528 x 14 x 14
        inception4e = I(528, 256, 160, 320, 32, 128, 128);                                        // N x 832 x 14 x 14
        maxpool4 = nn.MaxPool2d(2, stride: 2, ceil_mode: true);                                   // N x 832 x 7 x 7
        inception5a = I(832, 256, 160, 320, 32, 128, 128);
        inception5b = I(832, 384, 192, 384, 48, 128, 128);                                        // N x 1024 x 7 x 7
        avgpool = nn.AdaptiveAvgPool2d(1);
        dropout = nn.Dropout(0.2);
        NumFeatures = W(1024);
        if (config.AuxiliaryHeads)
        {
            aux1 = new GoogLeNetAux(W(512), options.NumClasses);
            aux2 = new GoogLeNetAux(W(528), options.NumClasses);
        }

        fc = nn.Linear(NumFeatures, options.NumClasses);
        RegisterComponents();
        Init.KaimingConvUnitNorm(this);
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> AuxiliaryHeadNames => aux1 is null ? Array.Empty<string>() : new[] { nameof(aux1), nameof(aux2) };

    /// <inheritdoc/>
    public override IReadOnlyList<string> HeadModuleNames => aux1 is null ? [nameof(fc)] : [nameof(fc), nameof(aux1), nameof(aux2)];

    /// <inheritdoc/>
    public override Tensor ForwardFeatures(Tensor input) => Features(input, auxiliary: null);

    /// <inheritdoc/>
    public override Tensor ForwardHead(Tensor features)
    {
        using var scope = NewDisposeScope();
        return fc.forward(dropout.forward(avgpool.forward(features).flatten(1))).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public IReadOnlyList<WeightedLogits> ForwardWithAuxiliary(Tensor input)
    {
        var auxiliary = new List<WeightedLogits>();
        using var features = Features(input, training && aux1 is not null ? auxiliary : null);
        auxiliary.Insert(0, new WeightedLogits(ForwardHead(features), 1.0));
        return auxiliary;
    }

    /// <inheritdoc/>
    public override GraphValue EmitFeatures(GraphBuilder graph, GraphValue input)
    {
        var x = graph.Apply(maxpool1, graph.Apply(conv1, input));
        x = graph.Apply(maxpool2, graph.Apply(conv3, graph.Apply(conv2, x)));
        x = graph.Apply(maxpool3, graph.Apply(inception3b, graph.Apply(inception3a, x)));
        foreach (var module in new[] { inception4a, inception4b, inception4c, inception4d, inception4e })
        {
            x = graph.Apply(module, x);
        }

        return graph.Apply(inception5b, graph.Apply(inception5a, graph.Apply(maxpool4, x)));
    }

    /// <inheritdoc/>
    public override GraphValue EmitHead(GraphBuilder graph, GraphValue features) => graph.Apply(fc, graph.Flatten(graph.Apply(avgpool, features)));

    /// <inheritdoc/>
    protected override void ReplaceHead(int numClasses)
    {
        fc = ReplaceChild(nameof(fc), nn.Linear(NumFeatures, numClasses));
        if (aux1 is not null && aux2 is not null)
        {
            aux1 = ReplaceChild(nameof(aux1), aux1.WithClasses(numClasses));
            aux2 = ReplaceChild(nameof(aux2), aux2.WithClasses(numClasses));
        }
    }

    /// <summary>The trunk up to inception5b; with <paramref name="auxiliary"/>, also the auxiliary heads' logits (weight 0.3 each).</summary>
    private Tensor Features(Tensor input, List<WeightedLogits>? auxiliary)
    {
        using var scope = NewDisposeScope();
        var x = maxpool1.forward(conv1.forward(input));
        x = maxpool2.forward(conv3.forward(conv2.forward(x)));
        x = maxpool3.forward(inception3b.forward(inception3a.forward(x)));
        x = inception4a.forward(x);
        Tensor? a1 = auxiliary is null ? null : aux1!.forward(x);
        x = inception4d.forward(inception4c.forward(inception4b.forward(x)));
        Tensor? a2 = auxiliary is null ? null : aux2!.forward(x);
        x = maxpool4.forward(inception4e.forward(x));
        x = inception5b.forward(inception5a.forward(x));
        if (auxiliary is not null)
        {
            auxiliary.Add(new WeightedLogits(a1!.MoveToOuterDisposeScope(), AuxiliaryLossWeight));
            auxiliary.Add(new WeightedLogits(a2!.MoveToOuterDisposeScope(), AuxiliaryLossWeight));
        }

        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// GoogLeNet's inception module (paper Figure 2b): 1x1; 1x1 then 3x3; 1x1 then "5x5" (3x3 in torchvision);
/// 3x3 max pool then 1x1; concatenated on channels.
/// </summary>
public sealed class InceptionModule : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly BasicConv2d branch1;
    private readonly Sequential branch2;
    private readonly Sequential branch3;
    private readonly Sequential branch4;

    /// <summary>Creates the module (widths as in the paper's Table 1 columns).</summary>
    public InceptionModule(int inChannels, int ch1x1, int ch3x3Reduce, int ch3x3, int ch5x5Reduce, int ch5x5, int poolProjection)
        : base(nameof(InceptionModule))
    {
        branch1 = new BasicConv2d(inChannels, ch1x1, 1);
        branch2 = nn.Sequential(("0", new BasicConv2d(inChannels, ch3x3Reduce, 1)), ("1", new BasicConv2d(ch3x3Reduce, ch3x3, 3, padding: 1)));
        branch3 = nn.Sequential(("0", new BasicConv2d(inChannels, ch5x5Reduce, 1)), ("1", new BasicConv2d(ch5x5Reduce, ch5x5, 3, padding: 1)));
        branch4 = nn.Sequential(("0", nn.MaxPool2d(3, stride: 1, padding: 1)), ("1", new BasicConv2d(inChannels, poolProjection, 1)));
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return cat(new[] { branch1.forward(input), branch2.forward(input), branch3.forward(input), branch4.forward(input) }, 1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input) =>
        graph.ConcatChannels(graph.Apply(branch1, input), graph.Apply(branch2, input), graph.Apply(branch3, input), graph.Apply(branch4, input));
}

/// <summary>GoogLeNet's auxiliary classifier (section 5): 4x4 average pool, 1x1 conv to 128, FC 1024 with dropout 0.7, FC.</summary>
public sealed class GoogLeNetAux : nn.Module<Tensor, Tensor>
{
    private readonly BasicConv2d conv;
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly Dropout dropout;
    private readonly int inChannels;

    /// <summary>Creates the head.</summary>
    public GoogLeNetAux(int inChannels, int numClasses)
        : base(nameof(GoogLeNetAux))
    {
        this.inChannels = inChannels;
        conv = new BasicConv2d(inChannels, 128, 1);
        fc1 = nn.Linear(2048, 1024);
        fc2 = nn.Linear(1024, numClasses);
        dropout = nn.Dropout(0.7);
        RegisterComponents();
    }

    /// <summary>A fresh head of the same input width for <paramref name="numClasses"/> classes, initialized as the network initializes it.</summary>
    public GoogLeNetAux WithClasses(int numClasses)
    {
        var head = new GoogLeNetAux(inChannels, numClasses);
        Init.KaimingConvUnitNorm(head);
        return head;
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = conv.forward(nn.functional.adaptive_avg_pool2d(input, new long[] { 4, 4 })).flatten(1);
        x = dropout.forward(nn.functional.relu(fc1.forward(x)));
        return fc2.forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>GoogLeNet registry rows (<see cref="GoogLeNetConfig"/>).</summary>
public static class GoogLeNetVariants
{
    /// <summary>Registry rows for the GoogLeNet family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return new("googlenet", GoogLeNetConfig.Default, new(13_004_888, 1.498, 0, "COMP"));
            yield return new("googlenet_no_aux", GoogLeNetConfig.Default with { AuxiliaryHeads = false }, new(6_624_904, 1.498, 0, "TV"));
        }
    }
}
