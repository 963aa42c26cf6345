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
        RegisterComponents();
    }

    /// <summary>The wrapped network.</summary>
    public ImageClassifier Network => network;

    /// <summary>The normalization in front of it.</summary>
    public InputNormalization Normalization => normalize;

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var normalized = normalize.forward(input);
        return network.forward(normalized);
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> AuxiliaryHeadNames =>
        network is IAuxiliaryHeads heads ? heads.AuxiliaryHeadNames.Select(n => $"network.{n}").ToList() : Array.Empty<string>();

    /// <inheritdoc/>
    public IReadOnlyList<WeightedLogits> ForwardWithAuxiliary(Tensor input)
    {
        using var normalized = normalize.forward(input);
        return network is IAuxiliaryHeads heads ? heads.ForwardWithAuxiliary(normalized) : new[] { new WeightedLogits(network.forward(normalized), 1) };
    }

    /// <inheritdoc/>
    public override GraphValue Emit(GraphBuilder graph, GraphValue input) =>
        graph.Apply(network, graph.Apply(normalize, input));
}
