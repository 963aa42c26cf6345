using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Models;

/// <summary>
/// The contract every architecture meets: images [N, C, H, W] in, logits [N, classes] out, a known
/// input shape, and a self-description for ONNX export and the cost model.
/// </summary>
public abstract class ImageClassifier : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    static ImageClassifier()
    {
        KernelSelection.EnsureApplied();
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
    public int NumClasses { get; }

    /// <inheritdoc/>
    public abstract GraphValue Emit(GraphBuilder graph, GraphValue input);
}
