using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>One row of MobileNet v2's Table 2: a sequence of identical inverted residual blocks.</summary>
/// <param name="Expansion">Expansion factor t of the hidden layer.</param>
/// <param name="Channels">Output channels c, before the width multiplier.</param>
/// <param name="Repeats">Number of blocks n.</param>
/// <param name="Stride">Stride s of the first block.</param>
public sealed record MobileNetV2Stage(double Expansion, int Channels, int Repeats, int Stride);

/// <summary>MobileNet v2 as data: the stage table and the width multiplier (the paper's 0.35 to 1.4; <see cref="ArchitectureConfig.Width"/>).</summary>
public sealed record MobileNetV2Config : ArchitectureConfig
{
    /// <summary>The paper's Table 2 (t, c, n, s), after the stem.</summary>
    public static IReadOnlyList<MobileNetV2Stage> Table2 { get; } =
    [
        new(Expansion: 1, Channels: 16, Repeats: 1, Stride: 1),
        new(Expansion: 6, Channels: 24, Repeats: 2, Stride: 2),
        new(Expansion: 6, Channels: 32, Repeats: 3, Stride: 2),
        new(Expansion: 6, Channels: 64, Repeats: 4, Stride: 2),
        new(Expansion: 6, Channels: 96, Repeats: 3, Stride: 1),
        new(Expansion: 6, Channels: 160, Repeats: 3, Stride: 2),
        new(Expansion: 6, Channels: 320, Repeats: 1, Stride: 1),
    ];

    /// <summary>The published network at width 1.0.</summary>
    public static MobileNetV2Config Default { get; } = new();

    /// <summary>Inverted residual stages after the stem (default: <see cref="Table2"/>).</summary>
    public IReadOnlyList<MobileNetV2Stage> Stages { get; init; } = Table2;

    /// <inheritdoc/>
    public override string Family => "MobileNetV2";

    /// <inheritdoc/>
    protected override ImageClassifier Build(ArchitectureOptions options) => new MobileNetV2(this, options);
}

/// <summary>
/// MobileNet v2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018, Table 2):
/// a 3x3 stride-2 stem, seventeen <see cref="InvertedResidual"/> blocks, a 1x1 conv to 1280 channels,
/// global pooling and a linear classifier behind dropout 0.2. The width multiplier scales every layer,
/// rounded to a multiple of 8; the last conv never shrinks below 1280. Names follow torchvision
/// (<c>features.0.0</c>, <c>features.1.conv.0.0</c>, <c>features.18.0</c>, <c>classifier.1</c>).
/// <para>Small inputs: the stem and four stride-2 stages divide the input by 32 (32x32 -> 1x1).
/// <see cref="ArchitectureOptions.SmallInputStem"/> gives the stem stride 1 (32x32 -> 2x2 at the last stage).</para>
/// </summary>
public sealed class MobileNetV2 : ImageClassifier
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private Sequential classifier;

    /// <summary>Builds a MobileNet v2.</summary>
    public MobileNetV2(MobileNetV2Config config, ArchitectureOptions options)
        : base(nameof(MobileNetV2), options.InputShape(224), options.NumClasses)
    {
        double alpha = config.Width;
        int input = Channels.MakeDivisible(32 * alpha);
        int last = Channels.MakeDivisible(1280 * Math.Max(1.0, alpha));
        var layers = new List<nn.Module<Tensor, Tensor>>
        {
            ConvNormAct.Create(options.InputChannels, input, 3, stride: options.SmallInputStem ? 1 : 2, activation: Activation.ReLU6),
        };
        foreach (var stage in config.Stages)
        {
            int output = Channels.MakeDivisible(stage.Channels * alpha);
            for (int i = 0; i < stage.Repeats; i++)
            {
                layers.Add(new InvertedResidual(input, output, i == 0 ? stage.Stride : 1, stage.Expansion));
                input = output;
            }
        }

        layers.Add(ConvNormAct.Create(input, last, 1, activation: Activation.ReLU6));
        features = nn.Sequential(layers.Select((m, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), m)));
        NumFeatures = last;
        avgpool = nn.AdaptiveAvgPool2d(1);
        classifier = nn.Sequential(("0", nn.Dropout(0.2)), ("1", nn.Linear(last, options.NumClasses)));
        RegisterComponents();
        Init.KaimingConvUnitNorm(this);
        Init.NormalLinear(this, 0.01);
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> HeadModuleNames { get; } = [nameof(classifier)];

    /// <inheritdoc/>
    public override Tensor ForwardFeatures(Tensor input) => features.forward(input);

    /// <inheritdoc/>
    public override Tensor ForwardHead(Tensor features) => PooledClassifier.Forward(avgpool, classifier, features);

    /// <inheritdoc/>
    public override GraphValue EmitFeatures(GraphBuilder graph, GraphValue input) => graph.Apply(features, input);

    /// <inheritdoc/>
    public override GraphValue EmitHead(GraphBuilder graph, GraphValue features) => PooledClassifier.Emit(graph, avgpool, classifier, features);

    /// <inheritdoc/>
    protected override void ReplaceHead(int numClasses)
    {
        var linear = nn.Linear(NumFeatures, numClasses);
        Init.NormalLinear(linear, 0.01);
        classifier = ReplaceInSequence(nameof(classifier), 1, linear);
    }
}

/// <summary>MobileNet v2 registry rows: width multipliers.</summary>
public static class MobileNetV2Variants
{
    /// <summary>Registry rows for the MobileNet v2 family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return new("mobilenet_v2", MobileNetV2Config.Default, new(3_504_872, 0.301, 0, "TV"));
            yield return new("mobilenet_v2_050", MobileNetV2Config.Default with { Width = 0.5 }, new(1_968_680, 0.0971, 0, "COMP"));
            yield return new("mobilenet_v2_075", MobileNetV2Config.Default with { Width = 0.75 }, new(2_636_424, 0.2091, 0, "COMP"));
            yield return new("mobilenet_v2_140", MobileNetV2Config.Default with { Width = 1.4 }, new(6_108_776, 0.5822, 0, "COMP"));
        }
    }
}
