using System.Runtime.CompilerServices;

namespace MLNetCnn.Architectures;

/// <summary>
/// Applies the oneDNN instruction-set limit (<see cref="MLNetCnn.Architectures.Runtime.OneDnnIsa"/>) as soon as
/// this assembly loads. oneDNN reads <c>ONEDNN_MAX_CPU_ISA</c> once, at its first use, and plain tensor
/// operations (for example <c>grid_sample</c> in the augmentation) can reach it before any model is built.
/// This assembly's initializer also applies <see cref="MLNetCnn.Architectures.Runtime.TorchSharpNative"/>, the
/// Debian 12 load fix for notebooks and scripts (the other assemblies' initializers reach it through this one).
/// </summary>
internal static class OneDnnIsaInitializer
{
#pragma warning disable CA2255 // A library initializer is the point: it must run before the first libtorch call.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize()
    {
        MLNetCnn.Architectures.Runtime.OneDnnIsa.EnsureSafeDefault();
        MLNetCnn.Architectures.Runtime.TorchSharpNative.EnsureLoadable();
    }
}
