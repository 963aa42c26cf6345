using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Models;

/// <summary>
/// The contract every architecture meets (timm's <c>forward_features</c> / <c>forward_head</c> /
/// <c>reset_classifier</c>): images [N, C, H, W] in; <see cref="ForwardFeatures"/> gives the last feature
/// map [N, <see cref="NumFeatures"/>, h, w], <see cref="ForwardHead"/> turns it into logits [N, classes], and
/// <see cref="ResetClassifier"/> gives the head a fresh classifier for another class count. The graph
/// (ONNX export, cost model) is described the same way, by <see cref="EmitFeatures"/> and
/// <see cref="EmitHead"/>, so the exported logits, the exported embedding and the forward pass all read the
/// same block definitions.
/// </summary>
public abstract class ImageClassifier : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    static ImageClassifier()
    {
        KernelSelection.EnsureApplied();
        TorchSharpNative.ThrowIfUnloadable();
    }

    /// <summary>Creates the module.</summary>
    protected ImageClassifier(string name, ImageShape inputShape, int numClasses)
        : base(name)
    {
        InputShape = inputShape.Validate(name);
        NumClasses = numClasses;
    }

    /// <summary>Shape of one input image.</summary>
    public ImageShape InputShape { get; }

    /// <summary>Number of output classes.</summary>
    public int NumClasses { get; private set; }

    /// <summary>Channels of the last feature map: the length of the pooled embedding (<see cref="ForwardEmbedding"/>).</summary>
    public int NumFeatures { get; protected init; }

    /// <summary>
    /// Module paths of the parts whose shape depends on the class count: the classifier, and auxiliary heads
    /// where the family has them (for example <c>fc</c>, or <c>fc</c>, <c>aux1</c>, <c>aux2</c>).
    /// </summary>
    public abstract IReadOnlyList<string> HeadModuleNames { get; }

    /// <summary>Names (as in <c>named_parameters</c>) of the parameters under <see cref="HeadModuleNames"/>: what a frozen backbone leaves to train.</summary>
    public IReadOnlySet<string> HeadParameterNames =>
        named_parameters().Select(p => p.name).Where(n => HeadModuleNames.Any(h => n.StartsWith(h + ".", StringComparison.Ordinal))).ToHashSet(StringComparer.Ordinal);

    /// <summary>The last feature map, [N, <see cref="NumFeatures"/>, h, w], before any pooling of the head.</summary>
    public abstract Tensor ForwardFeatures(Tensor input);

    /// <summary>Logits [N, classes] from the output of <see cref="ForwardFeatures"/> (pooling, dropout, classifier).</summary>
    public abstract Tensor ForwardHead(Tensor features);

    /// <summary>Logits: <see cref="ForwardHead"/> of <see cref="ForwardFeatures"/>.</summary>
    public override Tensor forward(Tensor input)
    {
        using var features = ForwardFeatures(input);
        return ForwardHead(features);
    }

    /// <summary>The embedding [N, <see cref="NumFeatures"/>]: the global average of the last feature map, whatever the family's head does.</summary>
    public Tensor ForwardEmbedding(Tensor input)
    {
        using var features = ForwardFeatures(input);
        using var pooled = nn.functional.adaptive_avg_pool2d(features, 1);
        return pooled.flatten(1);
    }

    /// <summary>Emits the layers of <see cref="ForwardFeatures"/>.</summary>
    public abstract GraphValue EmitFeatures(GraphBuilder graph, GraphValue input);

    /// <summary>Emits the layers of <see cref="ForwardHead"/> (eval semantics: no auxiliary heads).</summary>
    public abstract GraphValue EmitHead(GraphBuilder graph, GraphValue features);

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder graph, GraphValue input) => EmitHead(graph, EmitFeatures(graph, input));

    /// <summary>Emits <see cref="ForwardEmbedding"/>: the features, a global average pool and a flatten.</summary>
    public GraphValue EmitEmbedding(GraphBuilder graph, GraphValue input) => graph.Flatten(graph.GlobalAveragePool(EmitFeatures(graph, input)));

    /// <summary>
    /// Replaces the classifier (and any auxiliary heads) by freshly initialized ones for
    /// <paramref name="numClasses"/> classes, on the model's device; everything else keeps its weights.
    /// </summary>
    public void ResetClassifier(int numClasses)
    {
        if (numClasses < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "A classifier needs at least 2 classes.");
        }

        var device = parameters().FirstOrDefault()?.device ?? CPU;
        ReplaceHead(numClasses);
        if (device.type != DeviceType.CPU)
        {
            this.to(device);
        }

        NumClasses = numClasses;
    }

    /// <summary>Builds and installs the family's head modules for <paramref name="numClasses"/> classes (see <see cref="ReplaceChild{T}"/>).</summary>
    protected abstract void ReplaceHead(int numClasses);

    /// <summary>Swaps the registered child <paramref name="name"/> for <paramref name="replacement"/> and disposes the old one; the caller updates its field.</summary>
    protected T ReplaceChild<T>(string name, T replacement)
        where T : nn.Module
    {
        var old = Child(name);
        register_module(name, null!); // TorchSharp: registering null removes the entry
        register_module(name, replacement);
        old.Dispose();
        return replacement;
    }

    /// <summary>
    /// Swaps entry <paramref name="index"/> of the registered <see cref="Sequential"/> child <paramref name="name"/>
    /// (for example a VGG classifier's last layer) and disposes that entry only: the other entries move, with their
    /// weights, into the new sequence, so the old sequence is dropped without disposing them.
    /// </summary>
    protected Sequential ReplaceInSequence(string name, int index, nn.Module<Tensor, Tensor> replacement)
    {
        var sequence = (Sequential)Child(name);
        var entries = sequence.named_children().Select(c => (c.name, (nn.Module<Tensor, Tensor>)c.module)).ToList();
        var old = entries[index].Item2;
        entries[index] = (entries[index].name, replacement);
        var rebuilt = nn.Sequential(entries);
        register_module(name, null!);
        register_module(name, rebuilt);
        old.Dispose();
        return rebuilt;
    }

    private nn.Module Child(string name) =>
        named_children().FirstOrDefault(c => c.name == name).module
        ?? throw new InvalidOperationException($"{GetName()} has no child module '{name}'.");
}
