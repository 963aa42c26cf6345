namespace MLNetCnn.Architectures.Layers;

/// <summary>
/// A residual block whose last normalization can start at gamma = 0, making the block the identity
/// at initialization ("zero gamma", Bag of Tricks section 3.1).
/// </summary>
public interface IZeroInitLastNorm
{
    /// <summary>Sets the scale (gamma) of the block's last normalization layer to zero; a pre-activation block, which ends in a convolution, zeroes that convolution's weights instead (timm).</summary>
    void ZeroInitLastNorm();
}
