using System.Globalization;
using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using ChannelShuffle = MLNetCnn.Architectures.Layers.ChannelShuffle;
using MLNetCnn.Architectures.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>
/// A ShuffleNet v2 size (paper Table 5) as data: output channels of stages 2-4 and of conv5.
/// <see cref="ArchitectureConfig.Width"/> scales the stage table (the sizes are tables, not multipliers: x2.0 also widens conv5).
/// </summary>
/// <param name="StageChannels">Output channels of stages 2, 3 and 4.</param>
/// <param name="FinalChannels">Output channels of conv5 (1024, or 2048 for x2.0).</param>
public sealed record ShuffleNetV2Config(IReadOnlyList<int> StageChannels, int FinalChannels) : ArchitectureConfig
{
    private static IReadOnlyList<int> DefaultRepeats { get; } = [4, 8, 4];

    /// <summary>ShuffleNet v2 0.5x.</summary>
    public static ShuffleNetV2Config X0_5 { get; } = new([48, 96, 192], 1024);

    /// <summary>ShuffleNet v2 1.0x.</summary>
    public static ShuffleNetV2Config X1_0 { get; } = new([116, 232, 464], 1024);

    /// <summary>ShuffleNet v2 1.5x.</summary>
    public static ShuffleNetV2Config X1_5 { get; } = new([176, 352, 704], 1024);

    /// <summary>ShuffleNet v2 2.0x.</summary>
    public static ShuffleNetV2Config X2_0 { get; } = new([244, 488, 976], 2048);

    /// <summary>Blocks per stage (4, 8, 4 in the paper).</summary>
    public IReadOnlyList<int> Repeats { get; init; } = DefaultRepeats;

    /// <inheritdoc/>
    public override string Family => "ShuffleNetV2";

    /// <inheritdoc/>
    protected override ImageClassifier Build(ArchitectureOptions options) => new ShuffleNetV2(this, options);
}

/// <summary>
/// ShuffleNet v2 (Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
/// 2018, Table 5): a 3x3 stride-2 conv and max pool, three stages of <see cref="ShuffleNetV2Unit"/>s
/// (channel split, one branch of 1x1 / 3x3 depthwise / 1x1, concat, channel shuffle), conv5, global
/// pooling and a linear classifier. Names follow torchvision (<c>conv1.0</c>, <c>stage2.0.branch1.0</c>,
/// <c>stage3.1.branch2.3</c>, <c>conv5.0</c>, <c>fc</c>).
/// <para>Small inputs: the stem, the max pool and three stride-2 stages divide the input by 32.
/// <see cref="ArchitectureOptions.SmallInputStem"/> gives conv1 stride 1 and drops the max pool
/// (32x32 -> 4x4 at the last stage).</para>
/// </summary>
public sealed class ShuffleNetV2 : ImageClassifier
{
    private readonly Sequential conv1;
    private readonly nn.Module<Tensor, Tensor> maxpool;
    private readonly Sequential stage2;
    private readonly Sequential stage3;
    private readonly Sequential stage4;
    private readonly Sequential conv5;
    private readonly AdaptiveAvgPool2d avgpool;
    private Linear fc;

    /// <summary>Builds a ShuffleNet v2.</summary>
    public ShuffleNetV2(ShuffleNetV2Config config, ArchitectureOptions options)
        : base(nameof(ShuffleNetV2), options.InputShape(224), options.NumClasses)
    {
        int W(int c) => Math.Max(2, (int)Math.Round(c * config.Width / 2) * 2);
        int input = W(24);
        conv1 = ConvNormAct.Create(options.InputChannels, input, 3, stride: options.SmallInputStem ? 1 : 2);
        maxpool = options.SmallInputStem ? nn.Identity() : nn.MaxPool2d(3, stride: 2, padding: 1);
        var stages = new Sequential[3];
        for (int s = 0; s < 3; s++)
        {
            int output = W(config.StageChannels[s]);
            var blocks = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int i = 0; i < config.Repeats[s]; i++)
            {
                blocks.Add((i.ToString(CultureInfo.InvariantCulture), new ShuffleNetV2Unit(i == 0 ? input : output, output, i == 0 ? 2 : 1)));
            }

            stages[s] = nn.Sequential(blocks);
            input = output;
        }

        (stage2, stage3, stage4) = (stages[0], stages[1], stages[2]);
        conv5 = ConvNormAct.Create(input, config.FinalChannels, 1);
        NumFeatures = config.FinalChannels;
        avgpool = nn.AdaptiveAvgPool2d(1);
        fc = nn.Linear(config.FinalChannels, options.NumClasses);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> HeadModuleNames { get; } = [nameof(fc)];

    /// <inheritdoc/>
    public override Tensor ForwardFeatures(Tensor input)
    {
        var x = maxpool.forward(conv1.forward(input));
        return conv5.forward(stage4.forward(stage3.forward(stage2.forward(x))));
    }

    /// <inheritdoc/>
    public override Tensor ForwardHead(Tensor features) => PooledClassifier.Forward(avgpool, fc, features);

    /// <inheritdoc/>
    public override GraphValue EmitFeatures(GraphBuilder graph, GraphValue input)
    {
        var x = graph.Apply(maxpool, graph.Apply(conv1, input));
        return graph.Apply(conv5, graph.Apply(stage4, graph.Apply(stage3, graph.Apply(stage2, x))));
    }

    /// <inheritdoc/>
    public override GraphValue EmitHead(GraphBuilder graph, GraphValue features) => PooledClassifier.Emit(graph, avgpool, fc, features);

    /// <inheritdoc/>
    protected override void ReplaceHead(int numClasses) => fc = ReplaceChild(nameof(fc), nn.Linear(NumFeatures, numClasses));
}

/// <summary>
/// ShuffleNet v2's unit (paper Figure 3 c, d): stride 1 splits the channels in half and transforms one
/// half; stride 2 transforms both copies of the input (branch1 depthwise-downsamples the shortcut).
/// The halves are concatenated and shuffled with 2 groups. torchvision names it <c>InvertedResidual</c>.
/// </summary>
public sealed class ShuffleNetV2Unit : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly Sequential? branch1;
    private readonly Sequential branch2;
    private readonly ChannelShuffle shuffle;

    /// <summary>Creates the unit.</summary>
    public ShuffleNetV2Unit(int inChannels, int outChannels, int stride)
        : base(nameof(ShuffleNetV2Unit))
    {
        int branch = outChannels / 2;
        if (stride > 1)
        {
            branch1 = nn.Sequential(
                ("0", nn.Conv2d(inChannels, inChannels, 3, stride: stride, padding: 1, groups: inChannels, bias: false)),
                ("1", new BatchNorm2d(inChannels)),
                ("2", nn.Conv2d(inChannels, branch, 1, bias: false)),
                ("3", new BatchNorm2d(branch)),
                ("4", nn.ReLU(inplace: true)));
        }

        branch2 = nn.Sequential(
            ("0", nn.Conv2d(stride > 1 ? inChannels : branch, branch, 1, bias: false)),
            ("1", new BatchNorm2d(branch)),
            ("2", nn.ReLU(inplace: true)),
            ("3", nn.Conv2d(branch, branch, 3, stride: stride, padding: 1, groups: branch, bias: false)),
            ("4", new BatchNorm2d(branch)),
            ("5", nn.Conv2d(branch, branch, 1, bias: false)),
            ("6", new BatchNorm2d(branch)),
            ("7", nn.ReLU(inplace: true)));
        shuffle = new ChannelShuffle(2);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        Tensor joined;
        if (branch1 is null)
        {
            var halves = input.chunk(2, 1);
            joined = cat(new[] { halves[0], branch2.forward(halves[1]) }, 1);
        }
        else
        {
            joined = cat(new[] { branch1.forward(input), branch2.forward(input) }, 1);
        }

        return shuffle.forward(joined).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input)
    {
        GraphValue joined;
        if (branch1 is null)
        {
            var halves = graph.SplitChannels(input, 2);
            joined = graph.ConcatChannels(halves[0], graph.Apply(branch2, halves[1]));
        }
        else
        {
            joined = graph.ConcatChannels(graph.Apply(branch1, input), graph.Apply(branch2, input));
        }

        return graph.Apply(shuffle, joined);
    }
}

/// <summary>ShuffleNet v2 rows (paper Table 5; torchvision names).</summary>
public static class ShuffleNetV2Variants
{
    /// <summary>Registry rows for the ShuffleNet v2 family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return new("shufflenet_v2_x0_5", ShuffleNetV2Config.X0_5, new(1_366_792, 0.0405, 0, "TV"));
            yield return new("shufflenet_v2_x1_0", ShuffleNetV2Config.X1_0, new(2_278_604, 0.1449, 0, "TV"));
            yield return new("shufflenet_v2_x1_5", ShuffleNetV2Config.X1_5, new(3_503_624, 0.2958, 0, "TV"));
            yield return new("shufflenet_v2_x2_0", ShuffleNetV2Config.X2_0, new(7_393_996, 0.5833, 0, "TV"));
        }
    }
}
