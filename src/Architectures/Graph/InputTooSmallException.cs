namespace MLNetCnn.Architectures.Graph;

/// <summary>
/// A layer's window (kernel or pool) does not fit its input at the model's input size: the network cannot run,
/// in training or in serving. Raised by shape inference (<see cref="Cost.ModelCost.Measure"/>, and so by
/// <c>ClassifierTrainer.Fit</c> before the first step) with the layer and its input named.
/// </summary>
public sealed class InputTooSmallException : ArgumentException
{
    /// <summary>Creates the exception; <paramref name="layer"/> says which layer and what its input was.</summary>
    public InputTooSmallException(string layer)
        : base($"{layer}: the input is too small for this architecture; use a larger image size, or the architecture's small-input stem (SmallInputStem) where it is off.")
    {
        Layer = layer;
    }

    /// <summary>The layer that cannot run and its input.</summary>
    public string Layer { get; }
}
