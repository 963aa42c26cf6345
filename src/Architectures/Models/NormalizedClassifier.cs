using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Models;

/// <summary>
/// A network with its input normalization in front: what is trained on raw pixels and what is
/// exported. The network's state_dict keys appear under <c>network.</c>.
/// </summary>
public sealed class NormalizedClassifier : ImageClassifier, IAuxiliaryHeads
{
    private readonly InputNormalization normalize;
    private readonly ImageClassifier network;

    /// <summary>Wraps <paramref name="network"/> behind <paramref name="normalization"/>.</summary>
    public NormalizedClassifier(ImageClassifier network, InputNormalization normalization)
        : base(nameof(NormalizedClassifier), network.InputShape, network.NumClasses)
    {
        if (normalization.Mean.Count != network.InputShape.Channels)
        {
            throw new ArgumentException($"Normalization has {normalization.Mean.Count} channels but the network expects {network.InputShape.Channels}.");
        }

        this.network = network;
        normalize = normalization;
        NumFeatures = network.NumFeatures;
        RegisterComponents();
    }

    /// <summary>The wrapped network.</summary>
    public ImageClassifier Network => network;

    /// <summary>The normalization in front of it.</summary>
    public InputNormalization Normalization => normalize;

    /// <inheritdoc/>
    public override IReadOnlyList<string> HeadModuleNames => network.HeadModuleNames.Select(n => $"{nameof(network)}.{n}").ToList();

    /// <inheritdoc/>
    public override Tensor ForwardFeatures(Tensor input)
    {
        using var normalized = normalize.forward(input);
        return network.ForwardFeatures(normalized);
    }

    /// <inheritdoc/>
    public override Tensor ForwardHead(Tensor features) => network.ForwardHead(features);

    /// <inheritdoc/>
    public IReadOnlyList<string> AuxiliaryHeadNames =>
        network is IAuxiliaryHeads heads ? heads.AuxiliaryHeadNames.Select(n => $"{nameof(network)}.{n}").ToList() : Array.Empty<string>();

    /// <inheritdoc/>
    public IReadOnlyList<WeightedLogits> ForwardWithAuxiliary(Tensor input)
    {
        using var normalized = normalize.forward(input);
        return network is IAuxiliaryHeads heads ? heads.ForwardWithAuxiliary(normalized) : new[] { new WeightedLogits(network.forward(normalized), 1) };
    }

    /// <inheritdoc/>
    public override GraphValue EmitFeatures(GraphBuilder graph, GraphValue input) =>
        graph.Within(network, graph.Apply(normalize, input), x => network.EmitFeatures(graph, x));

    /// <inheritdoc/>
    public override GraphValue EmitHead(GraphBuilder graph, GraphValue features) =>
        graph.Within(network, features, x => network.EmitHead(graph, x));

    /// <inheritdoc/>
    protected override void ReplaceHead(int numClasses) => network.ResetClassifier(numClasses);
}
