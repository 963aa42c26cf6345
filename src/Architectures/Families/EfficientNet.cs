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
/// A compound scaling row (paper section 3.3): width, depth, resolution and classifier dropout.
/// B1..B7 are the published rows; <see cref="Compound"/> gives any phi from the rule itself.
/// </summary>
/// <param name="Width">Channel multiplier (beta^phi).</param>
/// <param name="Depth">Layer multiplier (alpha^phi).</param>
/// <param name="Resolution">Input size (224 gamma^phi).</param>
/// <param name="Dropout">Dropout before the classifier.</param>
public sealed record EfficientNetScaling(double Width, double Depth, int Resolution, double Dropout)
{
    /// <summary>Stochastic depth: drop probability of the last block, rising linearly from 0 (paper section 5.2).</summary>
    public double StochasticDepth { get; init; } = 0.2;

    /// <summary>
    /// The compound rule for any phi: depth 1.2^phi, width 1.1^phi, resolution 224 x 1.15^phi (rounded to
    /// a multiple of 4), dropout 0.2 rising by 0.1 every two steps of phi up to 0.5 as in the published rows.
    /// </summary>
    public static EfficientNetScaling Compound(double phi)
    {
        if (!(phi >= 0 && double.IsFinite(phi)))
        {
            throw new ArgumentOutOfRangeException(nameof(phi), phi, "phi must be a non-negative finite number.");
        }

        int resolution = (int)Math.Round(224 * Math.Pow(1.15, phi) / 4) * 4;
        return new(Math.Pow(1.1, phi), Math.Pow(1.2, phi), resolution, Math.Min(0.5, 0.2 + (0.1 * Math.Floor(phi / 2))));
    }
}

/// <summary>
/// EfficientNet (Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
/// 2019): the B0 stage table (Table 1) of <see cref="MBConv"/> blocks with squeeze-and-excitation and
/// SiLU (Swish), scaled by an <see cref="EfficientNetScaling"/> row. Names follow torchvision
/// (<c>features.0.0</c>, <c>features.2.1.block.2.fc1</c>, <c>features.8.0</c>, <c>classifier.1</c>).
/// <para>Small inputs: five stride-2 layers divide the input by 32 (32x32 -> 1x1).
/// <see cref="ArchitectureOptions.SmallInputStem"/> gives the stem stride 1 (32x32 -> 2x2).</para>
/// </summary>
public sealed class EfficientNet : ImageClassifier
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Sequential classifier;

    /// <summary>Builds an EfficientNet for a scaling row (times <see cref="ArchitectureOptions.WidthMultiplier"/>).</summary>
    public EfficientNet(EfficientNetScaling scaling, ArchitectureOptions options)
        : base(nameof(EfficientNet), options.InputShape(scaling.Resolution), options.NumClasses)
    {
        var stages = B0.Select(s => s.Scale(scaling.Width * options.WidthMultiplier, scaling.Depth)).ToList();
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
                double dropPath = scaling.StochasticDepth * index++ / total;
                blocks.Add((i.ToString(CultureInfo.InvariantCulture), new MBConv(
                    i == 0 ? stage.InputChannels : stage.OutputChannels, stage.OutputChannels, stage.Kernel, i == 0 ? stage.Stride : 1, stage.ExpandRatio, dropPath)));
            }

            layers.Add(nn.Sequential(blocks));
        }

        int last = 4 * stages[^1].OutputChannels;
        layers.Add(ConvNormAct.Create(stages[^1].OutputChannels, last, 1, activation: Activation.SiLU));
        features = nn.Sequential(layers.Select((m, i) => (i.ToString(CultureInfo.InvariantCulture), m)));
        avgpool = nn.AdaptiveAvgPool2d(1);
        classifier = nn.Sequential(("0", nn.Dropout(scaling.Dropout)), ("1", nn.Linear(last, options.NumClasses)));
        RegisterComponents();
        Init.KaimingConvUnitNorm(this);
    }

    /// <summary>EfficientNet-B0's MBConv stages (paper Table 1, stages 2-8).</summary>
    public static IReadOnlyList<MBConvStage> B0 { get; } = new MBConvStage[]
    {
        new(ExpandRatio: 1, Kernel: 3, Stride: 1, InputChannels: 32, OutputChannels: 16, Layers: 1),
        new(ExpandRatio: 6, Kernel: 3, Stride: 2, InputChannels: 16, OutputChannels: 24, Layers: 2),
        new(ExpandRatio: 6, Kernel: 5, Stride: 2, InputChannels: 24, OutputChannels: 40, Layers: 2),
        new(ExpandRatio: 6, Kernel: 3, Stride: 2, InputChannels: 40, OutputChannels: 80, Layers: 3),
        new(ExpandRatio: 6, Kernel: 5, Stride: 1, InputChannels: 80, OutputChannels: 112, Layers: 3),
        new(ExpandRatio: 6, Kernel: 5, Stride: 2, InputChannels: 112, OutputChannels: 192, Layers: 4),
        new(ExpandRatio: 6, Kernel: 3, Stride: 1, InputChannels: 192, OutputChannels: 320, Layers: 1),
    };

    /// <inheritdoc/>
    public override Tensor forward(Tensor input) => PooledClassifier.Forward(features, avgpool, classifier, input);

    /// <inheritdoc/>
    public override GraphValue Emit(GraphBuilder graph, GraphValue input) => PooledClassifier.Emit(graph, features, avgpool, classifier, input);
}

/// <summary>EfficientNet rows: B0..B7 as published (width, depth, resolution, dropout), and any phi.</summary>
public static class EfficientNetVariants
{
    /// <summary>Registry rows for the EfficientNet family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            yield return Row("efficientnet_b0", new(1.0, 1.0, 224, 0.2), new(5_288_548, 0.386, 0, "TV"));
            yield return Row("efficientnet_b1", new(1.0, 1.1, 240, 0.2), new(7_794_184, 0.687, 0, "TV"));
            yield return Row("efficientnet_b2", new(1.1, 1.2, 260, 0.3), new(9_109_994, 0.994, 0, "TV, COMP"));
            yield return Row("efficientnet_b3", new(1.2, 1.4, 300, 0.3), new(12_233_232, 1.827, 0, "TV"));
            yield return Row("efficientnet_b4", new(1.4, 1.8, 380, 0.4), new(19_341_616, 4.394, 0, "TV"));
            yield return Row("efficientnet_b5", new(1.6, 2.2, 456, 0.4), new(30_389_784, 10.266, 0, "TV"));
            yield return Row("efficientnet_b6", new(1.8, 2.6, 528, 0.5), new(43_040_704, 19.068, 0, "TV"));
            yield return Row("efficientnet_b7", new(2.0, 3.1, 600, 0.5), new(66_347_960, 37.746, 0, "TV"));
        }
    }

    /// <summary>An unregistered definition for any compound coefficient phi (<see cref="EfficientNetScaling.Compound"/>).</summary>
    public static ModelDefinition ForPhi(double phi)
    {
        var scaling = EfficientNetScaling.Compound(phi);
        return new(string.Create(CultureInfo.InvariantCulture, $"efficientnet_phi{phi:0.##}"), "EfficientNet", scaling.Resolution, options => new EfficientNet(scaling, options));
    }

    private static ModelDefinition Row(string name, EfficientNetScaling scaling, ReferenceFigures reference) =>
        new(name, "EfficientNet", scaling.Resolution, options => new EfficientNet(scaling, options), reference);
}
