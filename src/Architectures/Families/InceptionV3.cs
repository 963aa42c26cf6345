using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>Inception v3 as data: with or without the auxiliary classifier. Its factorized modules exist at the published widths only, so <see cref="ArchitectureConfig.Width"/> must be 1.</summary>
public sealed record InceptionV3Config : ArchitectureConfig
{
    /// <summary>The published network, with its auxiliary classifier.</summary>
    public static InceptionV3Config Default { get; } = new();

    /// <summary>Build the training-only auxiliary classifier on the 17x17 grid.</summary>
    public bool AuxiliaryHead { get; init; } = true;

    /// <inheritdoc/>
    public override string Family => "InceptionV3";

    /// <inheritdoc/>
    public override int NativeInputSize => 299;

    /// <inheritdoc/>
    public override int MinInputSize => 75;

    /// <inheritdoc/>
    protected override ImageClassifier Build(ArchitectureOptions options) => new InceptionV3(this, options);
}

/// <summary>
/// Inception v3 (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", 2015,
/// Table 1), written out literally: a conv stem, three 35x35 modules with 5x5 factorized into 3x3s
/// (<see cref="InceptionA"/>), a grid reduction of parallel stride-2 conv and pool branches
/// (<see cref="InceptionB"/>), four 17x17 modules with 7x7 factorized into 1x7 and 7x1
/// (<see cref="InceptionC"/>), a second reduction (<see cref="InceptionD"/>) and two 8x8 modules with
/// expanded filter banks (<see cref="InceptionE"/>). The auxiliary classifier on the 17x17 grid has
/// batch norm (section 7) and runs in training only (loss weight 0.4, torchvision's recipe). Names
/// follow torchvision (<c>Conv2d_1a_3x3.conv</c>, <c>Mixed_6b.branch7x7_2.bn</c>, <c>AuxLogits.conv1</c>, <c>fc</c>).
/// <para>Small inputs: the stem needs at least 75x75. <see cref="ArchitectureOptions.SmallInputStem"/>
/// gives Conv2d_1a stride 1, pads Conv2d_2a and Conv2d_4a by 1 and drops maxpool1, so 32x32 reaches the
/// 35x35 modules as 15x15 and the last modules as 3x3; the auxiliary head then pools adaptively to 5x5.</para>
/// </summary>
public sealed class InceptionV3 : ImageClassifier, IAuxiliaryHeads
{
    private const double AuxiliaryLossWeight = 0.4;

    private readonly BasicConv2d Conv2d_1a_3x3;
    private readonly BasicConv2d Conv2d_2a_3x3;
    private readonly BasicConv2d Conv2d_2b_3x3;
    private readonly nn.Module<Tensor, Tensor> maxpool1;
    private readonly BasicConv2d Conv2d_3b_1x1;
    private readonly BasicConv2d Conv2d_4a_3x3;
    private readonly MaxPool2d maxpool2;
    private readonly InceptionA Mixed_5b;
    private readonly InceptionA Mixed_5c;
    private readonly InceptionA Mixed_5d;
    private readonly InceptionB Mixed_6a;
    private readonly InceptionC Mixed_6b;
    private readonly InceptionC Mixed_6c;
    private readonly InceptionC Mixed_6d;
    private readonly InceptionC Mixed_6e;
    private InceptionV3Aux? AuxLogits;
    private readonly InceptionD Mixed_7a;
    private readonly InceptionE Mixed_7b;
    private readonly InceptionE Mixed_7c;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Dropout dropout;
    private Linear fc;

    /// <summary>Builds Inception v3, with or without its auxiliary classifier.</summary>
    public InceptionV3(InceptionV3Config config, ArchitectureOptions options)
        : base(nameof(InceptionV3), options.InputShape(299), options.NumClasses)
    {
        if (config.Width != 1.0)
        {
            throw new ArgumentException($"Inception v3's factorized modules are written for the published widths; Width must be 1, found {config.Width}.", nameof(config));
        }

        bool small = options.SmallInputStem;
        int pad = small ? 1 : 0;
        Conv2d_1a_3x3 = new BasicConv2d(options.InputChannels, 32, 3, stride: small ? 1 : 2, padding: pad); // N x 32 x 149 x 149
        Conv2d_2a_3x3 = new BasicConv2d(32, 32, 3, padding: pad);                                           // N x 32 x 147 x 147
        Conv2d_2b_3x3 = new BasicConv2d(32, 64, 3, padding: 1);                                             // N x 64 x 147 x 147
        maxpool1 = small ? nn.Identity() : nn.MaxPool2d(3, stride: 2);                                      // N x 64 x 73 x 73
        Conv2d_3b_1x1 = new BasicConv2d(64, 80, 1);                                                         // N x 80 x 73 x 73
        Conv2d_4a_3x3 = new BasicConv2d(80, 192, 3, padding: pad);                                          // N x 192 x 71 x 71
        maxpool2 = nn.MaxPool2d(3, stride: 2);                                                              // N x 192 x 35 x 35
        Mixed_5b = new InceptionA(192, poolFeatures: 32);                                                   // N x 256 x 35 x 35
        Mixed_5c = new InceptionA(256, poolFeatures: 64);                                                   // N x 288 x 35 x 35
        Mixed_5d = new InceptionA(288, poolFeatures: 64);                                                   // N x 288 x 35 x 35
        Mixed_6a = new InceptionB(288);                                                                     // N x 768 x 17 x 17
        Mixed_6b = new InceptionC(768, channels7x7: 128);
        Mixed_6c = new InceptionC(768, channels7x7: 160);
        Mixed_6d = new InceptionC(768, channels7x7: 160);
        Mixed_6e = new InceptionC(768, channels7x7: 192);                                                   // N x 768 x 17 x 17
        if (config.AuxiliaryHead)
        {
            AuxLogits = new InceptionV3Aux(768, options.NumClasses, adaptivePool: small);
        }

        Mixed_7a = new InceptionD(768);                                                                     // N x 1280 x 8 x 8
        Mixed_7b = new InceptionE(1280);                                                                    // N x 2048 x 8 x 8
        Mixed_7c = new InceptionE(2048);                                                                    // N x 2048 x 8 x 8
        avgpool = nn.AdaptiveAvgPool2d(1);
        dropout = nn.Dropout(0.5);
        NumFeatures = 2048;
        fc = nn.Linear(NumFeatures, options.NumClasses);
        RegisterComponents();
        Init.KaimingConvUnitNorm(this);
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> AuxiliaryHeadNames => AuxLogits is null ? Array.Empty<string>() : new[] { nameof(AuxLogits) };

    /// <inheritdoc/>
    public override IReadOnlyList<string> HeadModuleNames => AuxLogits is null ? [nameof(fc)] : [nameof(fc), nameof(AuxLogits)];

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
        using var features = Features(input, training && AuxLogits is not null ? auxiliary : null);
        auxiliary.Insert(0, new WeightedLogits(ForwardHead(features), 1.0));
        return auxiliary;
    }

    /// <inheritdoc/>
    public override GraphValue EmitFeatures(GraphBuilder graph, GraphValue input) =>
        Trunk.Concat(Top).Aggregate(input, (x, module) => graph.Apply(module, x));

    /// <inheritdoc/>
    public override GraphValue EmitHead(GraphBuilder graph, GraphValue features) => graph.Apply(fc, graph.Flatten(graph.Apply(avgpool, features)));

    /// <inheritdoc/>
    protected override void ReplaceHead(int numClasses)
    {
        fc = ReplaceChild(nameof(fc), nn.Linear(NumFeatures, numClasses));
        if (AuxLogits is not null)
        {
            AuxLogits = ReplaceChild(nameof(AuxLogits), AuxLogits.WithClasses(numClasses));
        }
    }

    /// <summary>Everything up to the 17x17 output that feeds the auxiliary classifier.</summary>
    private nn.Module<Tensor, Tensor>[] Trunk => new nn.Module<Tensor, Tensor>[]
    {
        Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3, maxpool1, Conv2d_3b_1x1, Conv2d_4a_3x3, maxpool2,
        Mixed_5b, Mixed_5c, Mixed_5d, Mixed_6a, Mixed_6b, Mixed_6c, Mixed_6d, Mixed_6e,
    };

    /// <summary>The 8x8 modules after the auxiliary classifier's tap.</summary>
    private nn.Module<Tensor, Tensor>[] Top => new nn.Module<Tensor, Tensor>[] { Mixed_7a, Mixed_7b, Mixed_7c };

    /// <summary>The last feature map; with <paramref name="auxiliary"/>, also the auxiliary logits (weight 0.4).</summary>
    private Tensor Features(Tensor input, List<WeightedLogits>? auxiliary)
    {
        using var scope = NewDisposeScope();
        var x = Trunk.Aggregate(input, (v, module) => module.forward(v));
        if (auxiliary is not null)
        {
            auxiliary.Add(new WeightedLogits(AuxLogits!.forward(x).MoveToOuterDisposeScope(), AuxiliaryLossWeight));
        }

        return Top.Aggregate(x, (v, module) => module.forward(v)).MoveToOuterDisposeScope();
    }
}

/// <summary>Inception v3 registry rows (<see cref="InceptionV3Config"/>).</summary>
public static class InceptionV3Variants
{
    /// <summary>Registry rows for the Inception v3 family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return new("inception_v3", InceptionV3Config.Default, new(27_161_264, 5.713, 0, "TV"));
            yield return new("inception_v3_no_aux", InceptionV3Config.Default with { AuxiliaryHead = false }, new(23_834_568, 5.713, 0, "COMP, TIMM"));
        }
    }
}
