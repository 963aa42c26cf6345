using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Models;

/// <summary>Logits and the weight of their loss term.</summary>
/// <param name="Logits">[N, classes] logits.</param>
/// <param name="LossWeight">Weight of this head's loss in the total training loss (1 for the main head).</param>
public readonly record struct WeightedLogits(Tensor Logits, double LossWeight);

/// <summary>
/// A network with auxiliary classifiers that exist only in training (GoogLeNet, Inception v3).
/// <c>forward</c> always returns the main logits; a training loop that knows this capability calls
/// <see cref="ForwardWithAuxiliary"/> and sums the weighted losses. The heads add parameters but are
/// never part of the exported graph or the MAC count.
/// </summary>
public interface IAuxiliaryHeads
{
    /// <summary>Names of the auxiliary head modules (state_dict prefixes such as <c>aux1</c>); empty when built without them.</summary>
    IReadOnlyList<string> AuxiliaryHeadNames { get; }

    /// <summary>
    /// In training mode: the main logits (weight 1) followed by each auxiliary head's logits and loss weight.
    /// In eval mode, or without heads: the main logits only.
    /// </summary>
    IReadOnlyList<WeightedLogits> ForwardWithAuxiliary(Tensor input);
}
