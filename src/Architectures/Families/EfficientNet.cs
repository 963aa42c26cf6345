using System.Globalization;
using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>One stage of EfficientNet-B0 (paper Table 1): identical MBConv blocks.</summary>
/// <param name="ExpandRatio">Expansion of the hidden width (1 or 6).</param>
/// <param name="Kernel">Depthwise kernel size (3 or 5).</param>
/// <param name="Stride">Stride of the stage's first block.</param>
/// <param name="InputChannels">Input channels at width 1.</param>
/// <param name="OutputChannels">Output channels at width 1.</param>
/// <param name="Layers">Blocks at depth 1.</param>
public sealed record MBConvStage(double ExpandRatio, int Kernel, int Stride, int InputChannels, int OutputChannels, int Layers)
{
    /// <summary>This stage under compound scaling: widths rounded to multiples of 8, depth rounded up.</summary>
    public MBConvStage Scale(double width, double depth) => this with
    {
        InputChannels = Channels.MakeDivisible(InputChannels * width),
        OutputChannels = Channels.MakeDivisible(OutputChannels * width),
        Layers = (int)Math.Ceiling(Layers * depth),
    };
}

/// <summary>
/// EfficientNet as data: a compound scaling row (paper section 3.3) over the B0 stage table. B0..B7 are the
/// published rows; <see cref="ForPhi"/> gives any phi from the rule itself, without registering a name.
/// <see cref="ArchitectureConfig.Width"/> is the row's channel multiplier beta^phi.
/// </summary>
public sealed record EfficientNetConfig : ArchitectureConfig
{
    /// <summary>EfficientNet-B0's MBConv stages (paper Table 1, stages 2-8).</summary>
    public static IReadOnlyList<MBConvStage> B0Stages { get; } =
    [
        new(ExpandRatio: 1, Kernel: 3, Stride: 1, InputChannels: 32, OutputChannels: 16, Layers: 1),
        new(ExpandRatio: 6, Kernel: 3, Stride: 2, InputChannels: 16, OutputChannels: 24, Layers: 2),
        new(ExpandRatio: 6, Kernel: 5, Stride: 2, InputChannels: 24, OutputChannels: 40, Layers: 2),
        new(ExpandRatio: 6, Kernel: 3, Stride: 2, InputChannels: 40, OutputChannels: 80, Layers: 3),
        new(ExpandRatio: 6, Kernel: 5, Stride: 1, InputChannels: 80, OutputChannels: 112, Layers: 3),
        new(ExpandRatio: 6, Kernel: 5, Stride: 2, InputChannels: 112, OutputChannels: 192, Layers: 4),
        new(ExpandRatio: 6, Kernel: 3, Stride: 1, InputChannels: 192, OutputChannels: 320, Layers: 1),
    ];

    /// <summary>B0: width 1.0, depth 1.0, 224, dropout 0.2.</summary>
    public static EfficientNetConfig B0 { get; } = Row(1.0, 1.0, 224, 0.2);

    /// <summary>B1: width 1.0, depth 1.1, 240, dropout 0.2.</summary>
    public static EfficientNetConfig B1 { get; } = Row(1.0, 1.1, 240, 0.2);

    /// <summary>B2: width 1.1, depth 1.2, 260, dropout 0.3.</summary>
    public static EfficientNetConfig B2 { get; } = Row(1.1, 1.2, 260, 0.3);

    /// <summary>B3: width 1.2, depth 1.4, 300, dropout 0.3.</summary>
    public static EfficientNetConfig B3 { get; } = Row(1.2, 1.4, 300, 0.3);

    /// <summary>B4: width 1.4, depth 1.8, 380, dropout 0.4.</summary>
    public static EfficientNetConfig B4 { get; } = Row(1.4, 1.8, 380, 0.4);

    /// <summary>B5: width 1.6, depth 2.2, 456, dropout 0.4.</summary>
    public static EfficientNetConfig B5 { get; } = Row(1.6, 2.2, 456, 0.4);

    /// <summary>B6: width 1.8, depth 2.6, 528, dropout 0.5.</summary>
    public static EfficientNetConfig B6 { get; } = Row(1.8, 2.6, 528, 0.5);

    /// <summary>B7: width 2.0, depth 3.1, 600, dropout 0.5.</summary>
    public static EfficientNetConfig B7 { get; } = Row(2.0, 3.1, 600, 0.5);

    /// <summary>The stage table the scaling applies to (default: <see cref="B0Stages"/>).</summary>
    public IReadOnlyList<MBConvStage> Stages { get; init; } = B0Stages;

    /// <summary>Layer multiplier (alpha^phi).</summary>
    public double Depth { get; init; } = 1.0;

    /// <summary>Input size (224 gamma^phi): the native input size.</summary>
    public int Resolution { get; init; } = 224;

    /// <summary>Dropout before the classifier.</summary>
    public double Dropout { get; init; } = 0.2;

    /// <summary>Stochastic depth: drop probability of the last block, rising linearly from 0 (paper section 5.2).</summary>
    public double StochasticDepth { get; init; } = 0.2;

    /// <inheritdoc/>
    public override string Family => "EfficientNet";

    /// <inheritdoc/>
    public override int NativeInputSize => Resolution;

    /// <summary>
    /// The compound rule for any phi: depth 1.2^phi, width 1.1^phi, resolution 224 x 1.15^phi (rounded to
    /// a multiple of 4), dropout 0.2 rising by 0.1 every two steps of phi up to 0.5 as in the published rows.
    /// Nothing is registered: pass the config to the trainer or call <see cref="ArchitectureConfig.Create"/>.
    /// </summary>
    public static EfficientNetConfig ForPhi(double phi)
    {
        if (!(phi >= 0 && double.IsFinite(phi)))
        {
            throw new ArgumentOutOfRangeException(nameof(phi), phi, "phi must be a non-negative finite number.");
        }

        int resolution = (int)Math.Round(224 * Math.Pow(1.15, phi) / 4) * 4;
        return Row(Math.Pow(1.1, phi), Math.Pow(1.2, phi), resolution, Math.Min(0.5, 0.2 + (0.1 * Math.Floor(phi / 2))));
    }

    /// <inheritdoc/>
    protected override ImageClassifier Build(ArchitectureOptions options) => new EfficientNet(this, options);

    private static EfficientNetConfig Row(double width, double depth, int resolution, double dropout) =>
        new() { Width = width, Depth = depth, Resolution = resolution, Dropout = dropout };
}

/// <summary>
/// EfficientNet (Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
/// 2019): the B0 stage table (Table 1) of <see cref="MBConv"/> blocks with squeeze-and-excitation and
/// SiLU (Swish), scaled by an <see cref="EfficientNetConfig"/> row. Names follow torchvision
/// (<c>features.0.0</c>, <c>features.2.1.block.2.fc1</c>, <c>features.8.0</c>, <c>classifier.1</c>).
/// <para>Small inputs: five stride-2 layers divide the input by 32 (32x32 -> 1x1).
/// <see cref="ArchitectureOptions.SmallInputStem"/> gives the stem stride 1 (32x32 -> 2x2).</para>
/// </summary>
public sealed class EfficientNet : ImageClassifier
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private Sequential classifier;

    /// <summary>Builds an EfficientNet for a scaling row.</summary>
    public EfficientNet(EfficientNetConfig config, ArchitectureOptions options)
        : base(nameof(EfficientNet), options.InputShape(config.Resolution), options.NumClasses)
    {
        var stages = config.Stages.Select(s => s.Scale(config.Width, config.Depth)).ToList();
        var layers = new List<nn.Module<Tensor, Tensor>>
        {
            ConvNormAct.Create(options.InputChannels, stages[0].InputChannels, 3, stride: options.SmallInputStem ? 1 : 2, activation: Activation.SiLU),
        };
        int total = stages.Sum(s => s.Layers);
        int index = 0;
        foreach (var stage in stages)
        {
            var blocks = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int i = 0; i < stage.Layers; i++)
            {
                double dropPath = config.StochasticDepth * index++ / total;
                blocks.Add((i.ToString(CultureInfo.InvariantCulture), new MBConv(
                    i == 0 ? stage.InputChannels : stage.OutputChannels, stage.OutputChannels, stage.Kernel, i == 0 ? stage.Stride : 1, stage.ExpandRatio, dropPath)));
            }

            layers.Add(nn.Sequential(blocks));
        }

        NumFeatures = 4 * stages[^1].OutputChannels;
        layers.Add(ConvNormAct.Create(stages[^1].OutputChannels, NumFeatures, 1, activation: Activation.SiLU));
        features = nn.Sequential(layers.Select((m, i) => (i.ToString(CultureInfo.InvariantCulture), m)));
        avgpool = nn.AdaptiveAvgPool2d(1);
        classifier = nn.Sequential(("0", nn.Dropout(config.Dropout)), ("1", nn.Linear(NumFeatures, options.NumClasses)));
        RegisterComponents();
        Init.KaimingConvUnitNorm(this);
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
    protected override void ReplaceHead(int numClasses) => classifier = ReplaceInSequence(nameof(classifier), 1, nn.Linear(NumFeatures, numClasses));
}

/// <summary>EfficientNet registry rows: B0..B7 as published (<see cref="EfficientNetConfig"/>; any other phi needs no name: <see cref="EfficientNetConfig.ForPhi"/>).</summary>
public static class EfficientNetVariants
{
    /// <summary>Registry rows for the EfficientNet family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return new("efficientnet_b0", EfficientNetConfig.B0, new(5_288_548, 0.386, 0, "TV"));
            yield return new("efficientnet_b1", EfficientNetConfig.B1, new(7_794_184, 0.687, 0, "TV"));
            yield return new("efficientnet_b2", EfficientNetConfig.B2, new(9_109_994, 0.994, 0, "TV, COMP"));
            yield return new("efficientnet_b3", EfficientNetConfig.B3, new(12_233_232, 1.827, 0, "TV"));
            yield return new("efficientnet_b4", EfficientNetConfig.B4, new(19_341_616, 4.394, 0, "TV"));
            yield return new("efficientnet_b5", EfficientNetConfig.B5, new(30_389_784, 10.266, 0, "TV"));
            yield return new("efficientnet_b6", EfficientNetConfig.B6, new(43_040_704, 19.068, 0, "TV"));
            yield return new("efficientnet_b7", EfficientNetConfig.B7, new(66_347_960, 37.746, 0, "TV"));
        }
    }
}
