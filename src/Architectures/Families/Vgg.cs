using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>Normalization inside a VGG's convolutional stages.</summary>
public enum VggNormalization
{
    /// <summary>None: the paper's networks.</summary>
    None,

    /// <summary>Batch norm after every convolution (torchvision's <c>_bn</c> models).</summary>
    BatchNorm,

    /// <summary>Local response normalization after the first layer only (the paper's A-LRN).</summary>
    FirstLayerLrn,
}

/// <summary>One VGG stage: its width and the kernel size of each convolution; a 2x2 max pool follows.</summary>
/// <param name="Channels">Output channels of every convolution in the stage.</param>
/// <param name="Kernels">Kernel size per convolution (3, or 1 for the 1x1 layers of config C).</param>
public sealed record VggStage(int Channels, IReadOnlyList<int> Kernels);

/// <summary>A VGG configuration (paper Table 1) as data; the rows are the paper's configurations A to E.</summary>
/// <param name="Stages">The five stages.</param>
/// <param name="Normalization">Normalization variant.</param>
public sealed record VggConfig(IReadOnlyList<VggStage> Stages, VggNormalization Normalization = VggNormalization.None) : ArchitectureConfig
{
    /// <summary>Config A, 11 weight layers (VGG-11).</summary>
    public static VggConfig A { get; } = Table([3], [3], [3, 3], [3, 3], [3, 3]);

    /// <summary>Config B, 13 weight layers (VGG-13).</summary>
    public static VggConfig B { get; } = Table([3, 3], [3, 3], [3, 3], [3, 3], [3, 3]);

    /// <summary>Config C, 16 weight layers, the last of stages 3-5 a 1x1 convolution.</summary>
    public static VggConfig C { get; } = Table([3, 3], [3, 3], [3, 3, 1], [3, 3, 1], [3, 3, 1]);

    /// <summary>Config D, 16 weight layers (VGG-16).</summary>
    public static VggConfig D { get; } = Table([3, 3], [3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]);

    /// <summary>Config E, 19 weight layers (VGG-19).</summary>
    public static VggConfig E { get; } = Table([3, 3], [3, 3], [3, 3, 3, 3], [3, 3, 3, 3], [3, 3, 3, 3]);

    /// <inheritdoc/>
    public override string Family => "VGG";

    /// <summary>The configuration of depth 11 (A), 13 (B), 16 (D) or 19 (E), with batch norm when <paramref name="batchNorm"/>.</summary>
    public static VggConfig ForDepth(int depth, bool batchNorm = false)
    {
        var config = depth switch
        {
            11 => A,
            13 => B,
            16 => D,
            19 => E,
            _ => throw new ArgumentOutOfRangeException(nameof(depth), depth, "VGG depth must be 11, 13, 16 or 19 (config C is VggConfig.C)."),
        };
        return batchNorm ? config with { Normalization = VggNormalization.BatchNorm } : config;
    }

    /// <inheritdoc/>
    protected override ImageClassifier Build(ArchitectureOptions options) => new Vgg(this, options);

    private static VggConfig Table(params int[][] kernels) =>
        new(kernels.Select((k, i) => new VggStage(Math.Min(64 << i, 512), k)).ToArray());
}

/// <summary>
/// VGG (Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
/// 2014, Table 1): configs A (11 layers), A-LRN, B (13), C (16, with a 1x1 conv closing stages 3-5),
/// D (16) and E (19), with and without batch norm. A 7x7 adaptive average pool feeds the
/// 4096-4096 classifier with dropout 0.5, as in torchvision; names follow its state_dict keys
/// (<c>features.N</c>, <c>classifier.0</c>, <c>classifier.3</c>, <c>classifier.6</c>).
/// <para>Small inputs: five 2x2 pools take 32x32 to 1x1 and 28x28 to nothing.
/// <see cref="ArchitectureOptions.SmallInputStem"/> drops the last max pool (28 -> 1x1, 32 -> 2x2); the
/// adaptive pool then spreads the map over the classifier's 7x7 input, so parameter names and counts are unchanged.</para>
/// </summary>
public sealed class Vgg : ImageClassifier
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private Sequential classifier;

    /// <summary>Builds a VGG from a configuration row and the common options.</summary>
    public Vgg(VggConfig config, ArchitectureOptions options)
        : base(nameof(Vgg), options.InputShape(224), options.NumClasses)
    {
        if (config.Stages.Count != 5 || config.Stages.Any(s => s.Kernels.Count == 0))
        {
            throw new ArgumentException("A VGG has five stages of at least one convolution.", nameof(config));
        }

        var layers = new List<nn.Module<Tensor, Tensor>>();
        int channels = options.InputChannels;
        for (int s = 0; s < config.Stages.Count; s++)
        {
            var stage = config.Stages[s];
            int width = config.Scaled(stage.Channels);
            foreach (int kernel in stage.Kernels)
            {
                layers.Add(nn.Conv2d(channels, width, kernel, padding: kernel / 2));
                if (config.Normalization == VggNormalization.BatchNorm)
                {
                    layers.Add(new BatchNorm2d(width));
                }

                layers.Add(nn.ReLU(inplace: true));
                if (config.Normalization == VggNormalization.FirstLayerLrn && channels == options.InputChannels && s == 0)
                {
                    layers.Add(new Layers.LocalResponseNorm());
                }

                channels = width;
            }

            bool last = s == config.Stages.Count - 1;
            layers.Add(last && options.SmallInputStem ? nn.Identity() : nn.MaxPool2d(2, stride: 2));
        }

        features = nn.Sequential(layers.Select((m, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), m)));
        NumFeatures = channels;
        avgpool = nn.AdaptiveAvgPool2d(new long[] { 7, 7 });
        int hidden = config.Scaled(4096);
        classifier = nn.Sequential(
            ("0", nn.Linear(channels * 7 * 7, hidden)),
            ("1", nn.ReLU(inplace: true)),
            ("2", nn.Dropout(0.5)),
            ("3", nn.Linear(hidden, hidden)),
            ("4", nn.ReLU(inplace: true)),
            ("5", nn.Dropout(0.5)),
            ("6", nn.Linear(hidden, options.NumClasses)));
        RegisterComponents();
        Init.KaimingConvUnitNorm(this);
        Init.NormalLinear(this, 0.01);
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> HeadModuleNames { get; } = [$"{nameof(classifier)}.6"];

    /// <inheritdoc/>
    public override Tensor ForwardFeatures(Tensor input) => features.forward(input);

    /// <inheritdoc/>
    public override Tensor ForwardHead(Tensor features) => PooledClassifier.Forward(avgpool, classifier, features);

    /// <inheritdoc/>
    public override GraphValue EmitFeatures(GraphBuilder graph, GraphValue input) => graph.Apply(features, input);

    /// <inheritdoc/>
    public override GraphValue EmitHead(GraphBuilder graph, GraphValue features) => PooledClassifier.Emit(graph, avgpool, classifier, features);

    /// <summary>Only the last layer depends on the class count; the 4096-wide layers keep their weights.</summary>
    protected override void ReplaceHead(int numClasses)
    {
        var last = nn.Linear(((Linear)classifier.named_children().Last().module).in_features, numClasses);
        Init.NormalLinear(last, 0.01);
        classifier = ReplaceInSequence(nameof(classifier), 6, last);
    }
}
