using MLNetCnn.Architectures.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// The head most families share: pooling, flatten, classifier; read once for the forward pass and once for
/// the graph, so the families that end this way write neither by hand.
/// </summary>
public static class PooledClassifier
{
    /// <summary>Runs pool, flatten and classifier on a feature map.</summary>
    public static Tensor Forward(nn.Module<Tensor, Tensor> pool, nn.Module<Tensor, Tensor> classifier, Tensor features)
    {
        using var x = pool.forward(features);
        return classifier.forward(x.flatten(1));
    }

    /// <summary>Emits pool, flatten and classifier (both direct children of the module being emitted).</summary>
    public static GraphValue Emit(GraphBuilder graph, nn.Module<Tensor, Tensor> pool, nn.Module<Tensor, Tensor> classifier, GraphValue features) =>
        graph.Apply(classifier, graph.Flatten(graph.Apply(pool, features)));
}
