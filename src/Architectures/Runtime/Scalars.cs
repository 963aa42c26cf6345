using TorchSharp;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>
/// Scalars that stay alive for the life of the process.
/// </summary>
/// <remarks>
/// TorchSharp frees a <see cref="Scalar"/>'s native value in its finalizer. A temporary Scalar, made
/// by an implicit conversion (<c>t.add_(1)</c>, <c>t * 0.5</c>, or the default <c>alpha</c> of
/// <c>add(Tensor)</c>), is unreachable while the native call that reads it is still running; a garbage
/// collection started by any other thread can then finalize it mid-call, and libtorch reads freed
/// memory ("Unknown scalar type", or a failed check in <c>Scalar::toFloat</c>), intermittently.
/// Library code therefore never passes a temporary: it uses these fields, or a Scalar declared with
/// <c>using var</c>, which stays reachable until the call has returned. A test scans the library's IL
/// for calls that would make a temporary.
/// </remarks>
public static class Scalars
{
    /// <summary>The integer 1 (the <c>alpha</c> of a plain add, or a counter's increment).</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary>The integer -1 (the <c>alpha</c> of a plain subtract).</summary>
    public static readonly Scalar MinusOne = (-1).ToScalar();
}
