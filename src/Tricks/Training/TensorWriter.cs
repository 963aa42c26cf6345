using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Training;

/// <summary>Writes tensors for checkpoints in TorchSharp's format, always as contiguous CPU data.</summary>
internal static class TensorWriter
{
    /// <summary>
    /// Writes <paramref name="tensor"/>: TorchSharp's <c>Save</c> writes the raw storage under the logical shape,
    /// so a channels-last tensor (see <see cref="TensorLayout.ChannelsLast"/>) must be made contiguous first.
    /// </summary>
    public static void Write(BinaryWriter writer, Tensor tensor)
    {
        using var scope = NewDisposeScope();
        tensor.detach().cpu().contiguous().Save(writer);
    }
}
