using System.Globalization;
using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>One depthwise separable layer of MobileNet v1's Table 1.</summary>
/// <param name="Channels">Pointwise output channels, before alpha.</param>
/// <param name="Stride">Stride of the depthwise convolution.</param>
public sealed record MobileNetV1Layer(int Channels, int Stride);

/// <summary>
/// MobileNet v1 as data: the layer table, the width multiplier alpha (<see cref="ArchitectureConfig.Width"/>,
/// section 4.2) and the resolution multiplier rho as the native input size (section 4.3).
/// </summary>
public sealed record MobileNetV1Config : ArchitectureConfig
{
    /// <summary>The paper's Table 1 after the stem.</summary>
    public static IReadOnlyList<MobileNetV1Layer> Table1 { get; } =
    [
        new(64, 1), new(128, 2), new(128, 1), new(256, 2), new(256, 1), new(512, 2),
        new(512, 1), new(512, 1), new(512, 1), new(512, 1), new(512, 1),
        new(1024, 2), new(1024, 1),
    ];

    /// <summary>alpha 1.0 at 224.</summary>
    public static MobileNetV1Config Default { get; } = new();

    /// <summary>Depthwise separable layers after the stem (default: <see cref="Table1"/>).</summary>
    public IReadOnlyList<MobileNetV1Layer> Layers { get; init; } = Table1;

    /// <summary>Input resolution (the paper's 224, 192, 160 or 128; any size works): the native input size.</summary>
    public int Resolution { get; init; } = 224;

    /// <inheritdoc/>
    public override string Family => "MobileNetV1";

    /// <inheritdoc/>
    public override int NativeInputSize => Resolution;

    /// <summary>MobileNet v1 with width multiplier <paramref name="alpha"/> at <paramref name="resolution"/>.</summary>
    public static MobileNetV1Config For(double alpha, int resolution = 224) => Default with { Width = alpha, Resolution = resolution };

    /// <inheritdoc/>
    protected override ImageClassifier Build(ArchitectureOptions options) => new MobileNetV1(this, options);
}

/// <summary>
/// MobileNet v1 (Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
/// Applications", 2017, Table 1): a 3x3 stride-2 stem and thirteen depthwise separable layers
/// (<see cref="DepthwiseSeparable.WithNorms"/>), global pooling and a linear classifier. The width
/// multiplier alpha (section 4.2) scales every layer, rounded to a multiple of 8 (TF-slim and timm);
/// the resolution multiplier rho (section 4.3) is the input size, any value. Names: <c>features.0</c>
/// stem, <c>features.1..13</c> layers (<c>.0</c> depthwise, <c>.1</c> pointwise), <c>classifier</c>.
/// <para>Small inputs: five stride-2 layers divide the input by 32 (32x32 -> 1x1).
/// <see cref="ArchitectureOptions.SmallInputStem"/> gives the stem stride 1 (32x32 -> 2x2).</para>
/// </summary>
public sealed class MobileNetV1 : ImageClassifier
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private Linear classifier;

    /// <summary>Builds a MobileNet v1.</summary>
    public MobileNetV1(MobileNetV1Config config, ArchitectureOptions options)
        : base(nameof(MobileNetV1), options.InputShape(config.Resolution), options.NumClasses)
    {
        double a = config.Width;
        int input = Channels.MakeDivisible(32 * a);
        var layers = new List<nn.Module<Tensor, Tensor>>
        {
            ConvNormAct.Create(options.InputChannels, input, 3, stride: options.SmallInputStem ? 1 : 2),
        };
        foreach (var layer in config.Layers)
        {
            int output = Channels.MakeDivisible(layer.Channels * a);
            layers.Add(DepthwiseSeparable.WithNorms(input, output, layer.Stride));
            input = output;
        }

        features = nn.Sequential(layers.Select((m, i) => (i.ToString(CultureInfo.InvariantCulture), m)));
        NumFeatures = input;
        avgpool = nn.AdaptiveAvgPool2d(1);
        classifier = nn.Linear(input, options.NumClasses);
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
    protected override void ReplaceHead(int numClasses) => classifier = ReplaceChild(nameof(classifier), nn.Linear(NumFeatures, numClasses));
}

/// <summary>MobileNet v1 registry rows: TF-slim's table of alpha x resolution, named as there (<c>mobilenet_v1_0.75_160</c>).</summary>
public static class MobileNetV1Variants
{
    /// <summary>Registry rows for the MobileNet v1 family.</summary>
    public static IEnumerable<ModelDefinition> Definitions
    {
        get
        {
            // alpha, params (4.24 M is 4,231,976 exactly), MMACs at 224, 192, 160, 128 (SLIM). A null figure
            // is a published one this counting rule does not reproduce: SLIM's 0.75 rows sit 2.6 percent below
            // it (the paper gives 325 at 224, which matches), and SLIM's 34 for 0.25 at 192 breaks the
            // table's own quadratic scaling (41 x (192/224)^2 = 30).
            var rows = new (double Alpha, long Params, double Tolerance, int?[] Macs)[]
            {
                (1.0, 4_231_976, 0, new int?[] { 569, 418, 291, 186 }),
                (0.75, 2_590_000, 0.02, new int?[] { 325, null, null, null }),
                (0.5, 1_340_000, 0.02, new int?[] { 150, 110, 77, 49 }),
                (0.25, 470_000, 0.02, new int?[] { 41, null, 21, 14 }),
            };
            int[] resolutions = { 224, 192, 160, 128 };
            foreach (var row in rows)
            {
                for (int r = 0; r < resolutions.Length; r++)
                {
                    string name = string.Create(CultureInfo.InvariantCulture, $"mobilenet_v1_{row.Alpha:0.0#}_{resolutions[r]}");
                    ReferenceFigures? reference = null;
                    if (row.Macs[r] is { } macs)
                    {
                        // Figures in whole millions: half a unit of the last digit is the source's own precision.
                        double tolerance = row.Tolerance == 0 ? 0 : Math.Max(row.Tolerance, 0.5 / macs);
                        reference = new(row.Params, macs / 1000.0, tolerance, row.Alpha == 0.75 ? "PAPER" : "SLIM, PAPER, COMP on TIMM");
                    }

                    yield return new ModelDefinition(name, MobileNetV1Config.For(row.Alpha, resolutions[r]), reference);
                }
            }
        }
    }
}
