using MLNetCnn.Architectures.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// The tail most families share: features, pooling, flatten, classifier; read once for the forward pass
/// and once for the graph, so the families that end this way write neither by hand.
/// </summary>
public static class PooledClassifier
{
    /// <summary>Runs features, pool, flatten and classifier.</summary>
    public static Tensor Forward(nn.Module<Tensor, Tensor> features, nn.Module<Tensor, Tensor> pool, nn.Module<Tensor, Tensor> classifier, Tensor input)
    {
        using var x = pool.forward(features.forward(input));
        return classifier.forward(x.flatten(1));
    }

    /// <summary>Emits features, pool, flatten and classifier (all direct children of the module being emitted).</summary>
    public static GraphValue Emit(GraphBuilder graph, nn.Module<Tensor, Tensor> features, nn.Module<Tensor, Tensor> pool, nn.Module<Tensor, Tensor> classifier, GraphValue input) =>
        graph.Apply(classifier, graph.Flatten(graph.Apply(pool, graph.Apply(features, input))));
}
