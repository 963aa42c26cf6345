using System.Runtime.CompilerServices;

namespace MLNetCnn.Estimators;

/// <summary>
/// Makes sure MLNetCnn.Architectures' initializer (the Debian 12 load fix, then the choice of oneDNN's
/// instruction set, see <see cref="MLNetCnn.Architectures.Runtime.KernelSelection"/>) has run as soon as this
/// assembly loads: oneDNN reads its instruction set once, at its first use, and this assembly's own tensor
/// operations may come first.
/// </summary>
internal static class LibraryInitializer
{
#pragma warning disable CA2255 // A library initializer is the point: it must run before the first libtorch call.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize() => MLNetCnn.Architectures.Runtime.KernelSelection.EnsureApplied();
}
