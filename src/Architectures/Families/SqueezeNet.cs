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
    private readonly Sequential classifier;

    /// <summary>Builds a SqueezeNet.</summary>
    public SqueezeNet(SqueezeNetVersion version, ArchitectureOptions options)
        : base(nameof(SqueezeNet), options.InputShape(224), options.NumClasses)
    {
        int stride = options.SmallInputStem ? 1 : 2;
        int W(int c) => Math.Max(1, (int)Math.Round(c * options.WidthMultiplier));
        Fire F(int inplanes, int squeeze, int expand) => new(W(inplanes), W(squeeze), W(expand), W(expand));
        nn.Module<Tensor, Tensor> Pool() => nn.MaxPool2d(3, stride: 2, ceil_mode: true);
        features = version == SqueezeNetVersion.V1_0
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
        var finalConv = nn.Conv2d(2 * W(256), options.NumClasses, 1);
        classifier = nn.Sequential(
            ("0", nn.Dropout(0.5)),
            ("1", finalConv),
            ("2", nn.ReLU(inplace: true)),
            ("3", nn.AdaptiveAvgPool2d(1)));
        RegisterComponents();
        InitWeights(finalConv);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var x = classifier.forward(features.forward(input));
        return x.flatten(1);
    }

    /// <inheritdoc/>
    public override GraphValue Emit(GraphBuilder graph, GraphValue input) =>
        graph.Flatten(graph.Apply(classifier, graph.Apply(features, input)));

    /// <summary>torchvision's init: Kaiming-uniform convs, N(0, 0.01) for the final conv, zero biases.</summary>
    private void InitWeights(Conv2d finalConv)
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            if (module is Conv2d conv)
            {
                if (ReferenceEquals(conv, finalConv))
                {
                    nn.init.normal_(conv.weight, 0, 0.01);
                }
                else
                {
                    nn.init.kaiming_uniform_(conv.weight);
                }

                nn.init.zeros_(conv.bias!);
            }
        }
    }
}
