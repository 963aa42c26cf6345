using System.Globalization;
using ChannelShuffle = MLNetCnn.Architectures.Layers.ChannelShuffle;
using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>
/// ShuffleNet v1 as data: the group count g, which picks the stage widths (paper Table 1), and the scale
/// factor s of "ShuffleNet s x" (section 4.1.1) as <see cref="ArchitectureConfig.Width"/>.
/// </summary>
/// <param name="Groups">Groups of the pointwise group convolutions: 1, 2, 3, 4 or 8.</param>
public sealed record ShuffleNetV1Config(int Groups) : ArchitectureConfig
{
    /// <summary>g = 1.</summary>
    public static ShuffleNetV1Config G1 { get; } = new(1);

    /// <summary>g = 2.</summary>
    public static ShuffleNetV1Config G2 { get; } = new(2);

    /// <summary>g = 3 (the paper's usual choice).</summary>
    public static ShuffleNetV1Config G3 { get; } = new(3);

    /// <summary>g = 4.</summary>
    public static ShuffleNetV1Config G4 { get; } = new(4);

    /// <summary>g = 8.</summary>
    public static ShuffleNetV1Config G8 { get; } = new(8);

    /// <inheritdoc/>
    public override string Family => "ShuffleNetV1";

    /// <inheritdoc/>
    protected override ImageClassifier Build(ArchitectureOptions options) => new ShuffleNetV1(this, options);
}

/// <summary>
/// ShuffleNet v1 (Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural Network for
/// Mobile Devices", 2017, Table 1): a 3x3 stride-2 conv to 24 channels, a max pool, three stages (4, 8, 4
/// units) of <see cref="ShuffleNetV1Unit"/>s, global pooling and a bias-free linear classifier. The group
/// count g picks the stage widths (g = 1: 144/288/576 ... g = 8: 384/768/1536); the scale factor s
/// (section 4.1.1, "ShuffleNet s x") is <see cref="ArchitectureConfig.Width"/>, rounded so every
/// group convolution divides evenly. No torchvision model exists; names follow the authors' code
/// (megvii-model/ShuffleNet-Series: <c>first_conv.0</c>, <c>features.0.branch_main_1.0</c>, <c>classifier.0</c>).
/// <para>Small inputs: the stem, the max pool and three stride-2 stages divide the input by 32.
/// <see cref="ArchitectureOptions.SmallInputStem"/> gives the first conv stride 1 and drops the max pool
/// (32x32 -> 4x4 at the last stage).</para>
/// </summary>
public sealed class ShuffleNetV1 : ImageClassifier
{
    private readonly Sequential first_conv;
    private readonly nn.Module<Tensor, Tensor> maxpool;
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d globalpool;
    private Sequential classifier;

    /// <summary>Builds ShuffleNet v1.</summary>
    public ShuffleNetV1(ShuffleNetV1Config config, ArchitectureOptions options)
        : base(nameof(ShuffleNetV1), options.InputShape(224), options.NumClasses)
    {
        int groups = config.Groups;
        double scale = config.Width;
        if (!StageChannels.TryGetValue(groups, out var widths))
        {
            throw new ArgumentOutOfRangeException(nameof(config), groups, $"ShuffleNet v1 is defined for groups {string.Join(", ", StageChannels.Keys)}.");
        }

        // Units divide widths by 4 (bottleneck) and by g (group convs): round stages to multiples of 4g and
        // the stem to a multiple of g, so that a strided unit's branch (output minus input) divides by g too.
        int unit = 4 * groups;
        int input = Math.Max(groups, (int)Math.Round(24 * scale / groups) * groups);
        first_conv = ConvNormAct.Create(options.InputChannels, input, 3, stride: options.SmallInputStem ? 1 : 2);
        maxpool = options.SmallInputStem ? nn.Identity() : nn.MaxPool2d(3, stride: 2, padding: 1);
        int[] repeats = { 4, 8, 4 };
        var units = new List<nn.Module<Tensor, Tensor>>();
        for (int s = 0; s < 3; s++)
        {
            int output = Math.Max(unit, (int)Math.Round(widths[s] * scale / unit) * unit);
            for (int i = 0; i < repeats[s]; i++)
            {
                units.Add(new ShuffleNetV1Unit(input, output, groups, stride: i == 0 ? 2 : 1, firstGroup: s == 0 && i == 0));
                input = output;
            }
        }

        features = nn.Sequential(units.Select((m, i) => (i.ToString(CultureInfo.InvariantCulture), m)));
        NumFeatures = input;
        globalpool = nn.AdaptiveAvgPool2d(1);
        classifier = nn.Sequential(("0", nn.Linear(input, options.NumClasses, hasBias: false)));
        RegisterComponents();
        Init.KaimingConvUnitNorm(this);
    }

    /// <summary>Stage 2/3/4 output channels per group count (paper Table 1, 1x).</summary>
    public static IReadOnlyDictionary<int, int[]> StageChannels { get; } = new Dictionary<int, int[]>
    {
        [1] = new[] { 144, 288, 576 },
        [2] = new[] { 200, 400, 800 },
        [3] = new[] { 240, 480, 960 },
        [4] = new[] { 272, 544, 1088 },
        [8] = new[] { 384, 768, 1536 },
    };

    /// <inheritdoc/>
    public override IReadOnlyList<string> HeadModuleNames { get; } = [nameof(classifier)];

    /// <inheritdoc/>
    public override Tensor ForwardFeatures(Tensor input)
    {
        using var x = maxpool.forward(first_conv.forward(input));
        return features.forward(x);
    }

    /// <inheritdoc/>
    public override Tensor ForwardHead(Tensor features) => PooledClassifier.Forward(globalpool, classifier, features);

    /// <inheritdoc/>
    public override GraphValue EmitFeatures(GraphBuilder graph, GraphValue input) =>
        graph.Apply(features, graph.Apply(maxpool, graph.Apply(first_conv, input)));

    /// <inheritdoc/>
    public override GraphValue EmitHead(GraphBuilder graph, GraphValue features) => PooledClassifier.Emit(graph, globalpool, classifier, features);

    /// <inheritdoc/>
    protected override void ReplaceHead(int numClasses) => classifier = ReplaceInSequence(nameof(classifier), 0, nn.Linear(NumFeatures, numClasses, hasBias: false));
}

/// <summary>
/// ShuffleNet v1's unit (paper Figure 2 b, c): 1x1 group conv (plain conv in the very first unit, whose
/// input has only 24 channels), BN, ReLU, channel shuffle, 3x3 depthwise conv with the stride, BN, 1x1
/// group conv, BN. Stride 1 adds the input and applies ReLU; stride 2 concatenates a 3x3 average-pooled
/// input and the ReLU of the branch, so the branch produces output minus input channels.
/// </summary>
public sealed class ShuffleNetV1Unit : nn.Module<Tensor, Tensor>, IGraphEmitter, IZeroInitLastNorm
{
    private readonly Sequential branch_main_1;
    private readonly ChannelShuffle shuffle;
    private readonly Sequential branch_main_2;
    private readonly AvgPool2d? branch_proj;
    private readonly ReLU relu;
    private readonly BatchNorm2d lastNorm;

    /// <summary>Creates the unit.</summary>
    public ShuffleNetV1Unit(int inChannels, int outChannels, int groups, int stride, bool firstGroup)
        : base(nameof(ShuffleNetV1Unit))
    {
        int mid = outChannels / 4;
        int outputs = stride == 2 ? outChannels - inChannels : outChannels;
        branch_main_1 = nn.Sequential(
            ("0", nn.Conv2d(inChannels, mid, 1, groups: firstGroup ? 1 : groups, bias: false)),
            ("1", new BatchNorm2d(mid)),
            ("2", nn.ReLU(inplace: true)),
            ("3", nn.Conv2d(mid, mid, 3, stride: stride, padding: 1, groups: mid, bias: false)),
            ("4", new BatchNorm2d(mid)));
        shuffle = new ChannelShuffle(groups);
        lastNorm = new BatchNorm2d(outputs);
        branch_main_2 = nn.Sequential(("0", nn.Conv2d(mid, outputs, 1, groups: groups, bias: false)), ("1", lastNorm));
        if (stride == 2)
        {
            branch_proj = nn.AvgPool2d(3, stride: 2, padding: 1);
        }

        relu = nn.ReLU(inplace: true);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = branch_main_2.forward(shuffle.forward(branch_main_1.forward(input)));
        var y = branch_proj is null ? relu.forward(x.add_(input, Scalars.One)) : cat(new[] { branch_proj.forward(input), relu.forward(x) }, 1);
        return y.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        var x = graph.Apply(branch_main_2, graph.Apply(shuffle, graph.Apply(branch_main_1, input)));
        return branch_proj is null
            ? graph.Apply(relu, graph.Add(x, input))
            : graph.ConcatChannels(graph.Apply(branch_proj, input), graph.Apply(relu, x));
    }

    /// <inheritdoc/>
    public void ZeroInitLastNorm()
    {
        if (branch_proj is null)
        {
            Init.ZeroGamma(lastNorm);
        }
    }
}

/// <summary>ShuffleNet v1 rows (1x, paper Table 2; params recomputed on the authors' code).</summary>
public static class ShuffleNetV1Variants
{
    /// <summary>Registry rows for the ShuffleNet v1 family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return Row(ShuffleNetV1Config.G1, new(1_530_936, 0.143, 0.02, "PAPER MACs, COMP params on MEGVII"));
            yield return Row(ShuffleNetV1Config.G2, new(1_732_848, 0.140, 0.02, "PAPER MACs, COMP params on MEGVII"));
            yield return Row(ShuffleNetV1Config.G3, new(1_864_728, 0.137, 0.02, "PAPER MACs, COMP params on MEGVII"));
            yield return Row(ShuffleNetV1Config.G4, new(1_967_344, 0.133, 0.02, "PAPER MACs, COMP params on MEGVII"));
            yield return Row(ShuffleNetV1Config.G8, new(2_433_768, 0.137, 0.02, "PAPER MACs, COMP params on MEGVII"));
        }
    }

    private static ModelDefinition Row(ShuffleNetV1Config config, ReferenceFigures reference) =>
        new(string.Create(CultureInfo.InvariantCulture, $"shufflenet_v1_g{config.Groups}"), config, reference);
}
