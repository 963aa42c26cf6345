using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>SqueezeNet versions.</summary>
public enum SqueezeNetVersion
{
    /// <summary>The paper's network (Table 1): 96 7x7 stem, max pools after fire modules 1, 4 and 8.</summary>
    V1_0,

    /// <summary>SqueezeNet 1.1 (the authors' repository): 64 3x3 stem, max pools after fire modules 1, 3 and 5; 2.4x fewer MACs.</summary>
    V1_1,
}

/// <summary>SqueezeNet as data: the version (<see cref="ArchitectureConfig.Width"/> scales every fire module).</summary>
/// <param name="Version">1.0 (the paper) or 1.1.</param>
public sealed record SqueezeNetConfig(SqueezeNetVersion Version) : ArchitectureConfig
{
    /// <summary>SqueezeNet 1.0.</summary>
    public static SqueezeNetConfig V1_0 { get; } = new(SqueezeNetVersion.V1_0);

    /// <summary>SqueezeNet 1.1.</summary>
    public static SqueezeNetConfig V1_1 { get; } = new(SqueezeNetVersion.V1_1);

    /// <inheritdoc/>
    public override string Family => "SqueezeNet";

    /// <inheritdoc/>
    protected override ImageClassifier Build(ArchitectureOptions options) => new SqueezeNet(this, options);
}

/// <summary>
/// SqueezeNet (Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters", 2016):
/// a conv stem, eight <see cref="Fire"/> modules with max pools between them, and a 1x1 conv
/// classifier followed by a global average pool (no fully-connected layer). Names follow torchvision
/// (<c>features.N</c>, <c>classifier.1</c> is the final conv).
/// <para>Small inputs: 28x28 and 32x32 already pass the published stem (the last stage sees 1x1 to 2x2).
/// <see cref="ArchitectureOptions.SmallInputStem"/> sets the stem stride to 1, so the fire modules
/// work on 4x larger maps (32x32 -> 3x3 at the last stage of 1.1).</para>
/// </summary>
public sealed class SqueezeNet : ImageClassifier
{
    private readonly Sequential features;
    private Sequential classifier;

    /// <summary>Builds a SqueezeNet.</summary>
    public SqueezeNet(SqueezeNetConfig config, ArchitectureOptions options)
        : base(nameof(SqueezeNet), options.InputShape(224), options.NumClasses)
    {
        int stride = options.SmallInputStem ? 1 : 2;
        int W(int c) => config.Scaled(c);
        Fire F(int inplanes, int squeeze, int expand) => new(W(inplanes), W(squeeze), W(expand), W(expand));
        nn.Module<Tensor, Tensor> Pool() => nn.MaxPool2d(3, stride: 2, ceil_mode: true);
        features = config.Version == SqueezeNetVersion.V1_0
            ? nn.Sequential(
                ("0", nn.Conv2d(options.InputChannels, W(96), 7, stride: stride)),
                ("1", nn.ReLU(inplace: true)),
                ("2", Pool()),
                ("3", F(96, 16, 64)),
                ("4", F(128, 16, 64)),
                ("5", F(128, 32, 128)),
                ("6", Pool()),
                ("7", F(256, 32, 128)),
                ("8", F(256, 48, 192)),
                ("9", F(384, 48, 192)),
                ("10", F(384, 64, 256)),
                ("11", Pool()),
                ("12", F(512, 64, 256)))
            : nn.Sequential(
                ("0", nn.Conv2d(options.InputChannels, W(64), 3, stride: stride)),
                ("1", nn.ReLU(inplace: true)),
                ("2", Pool()),
                ("3", F(64, 16, 64)),
                ("4", F(128, 16, 64)),
                ("5", Pool()),
                ("6", F(128, 32, 128)),
                ("7", F(256, 32, 128)),
                ("8", Pool()),
                ("9", F(256, 48, 192)),
                ("10", F(384, 48, 192)),
                ("11", F(384, 64, 256)),
                ("12", F(512, 64, 256)));
        NumFeatures = 2 * W(256);
        var finalConv = FinalConv(NumFeatures, options.NumClasses);
        classifier = nn.Sequential(
            ("0", nn.Dropout(0.5)),
            ("1", finalConv),
            ("2", nn.ReLU(inplace: true)),
            ("3", nn.AdaptiveAvgPool2d(1)));
        RegisterComponents();
        InitWeights(finalConv);
    }

    /// <summary>The final 1x1 conv, not the sequence around it: dropout, ReLU and pooling hold no weights.</summary>
    public override IReadOnlyList<string> HeadModuleNames { get; } = [$"{nameof(classifier)}.1"];

    /// <inheritdoc/>
    public override Tensor ForwardFeatures(Tensor input) => features.forward(input);

    /// <inheritdoc/>
    public override Tensor ForwardHead(Tensor features)
    {
        using var x = classifier.forward(features);
        return x.flatten(1);
    }

    /// <inheritdoc/>
    public override GraphValue EmitFeatures(GraphBuilder graph, GraphValue input) => graph.Apply(features, input);

    /// <inheritdoc/>
    public override GraphValue EmitHead(GraphBuilder graph, GraphValue features) => graph.Flatten(graph.Apply(classifier, features));

    /// <inheritdoc/>
    protected override void ReplaceHead(int numClasses) => classifier = ReplaceInSequence(nameof(classifier), 1, FinalConv(NumFeatures, numClasses));

    /// <summary>The final conv with torchvision's init: N(0, 0.01) weights, zero bias.</summary>
    private static Conv2d FinalConv(int inChannels, int numClasses)
    {
        var conv = nn.Conv2d(inChannels, numClasses, 1);
        using var noGrad = no_grad();
        nn.init.normal_(conv.weight, 0, 0.01);
        nn.init.zeros_(conv.bias!);
        return conv;
    }

    /// <summary>torchvision's init: Kaiming-uniform convs with zero biases, except the final conv (<see cref="FinalConv"/>).</summary>
    private void InitWeights(Conv2d finalConv)
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            if (module is Conv2d conv && !ReferenceEquals(conv, finalConv))
            {
                nn.init.kaiming_uniform_(conv.weight);
                nn.init.zeros_(conv.bias!);
            }
        }
    }
}
