using System.Runtime.CompilerServices;
using MLNetCnn.Architectures.Runtime;

namespace MLNetCnn.Architectures;

/// <summary>
/// Runs as this assembly loads, before any of its TorchSharp calls: the Debian 12 load fix for processes no
/// build prepared (<see cref="TorchSharpNative"/>), then the choice of oneDNN's instruction set
/// (<see cref="KernelSelection"/>), which oneDNN reads once, at its first use (plain tensor operations such as
/// <c>grid_sample</c> can get there before any model is built). The other assemblies of the library reach
/// this one before their first TorchSharp call. Inside a kernel probe process only the first two steps run.
/// </summary>
internal static class LibraryInitializer
{
#pragma warning disable CA2255 // A library initializer is the point: it must run before the first libtorch call.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize()
    {
        if (KernelProbe.IsChild)
        {
            KernelProbe.RegisterChildResolver();
        }

        TorchSharpNative.EnsureLoadable();
        KernelSelection.EnsureApplied();
    }
}
