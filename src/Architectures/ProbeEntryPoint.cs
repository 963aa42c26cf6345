using MLNetCnn.Architectures.Runtime;

namespace MLNetCnn.Architectures;

/// <summary>
/// The entry point of <c>dotnet exec MLNetCnn.Architectures.dll</c>, which only the kernel probe uses: each
/// probe runs in a process of its own (see <see cref="KernelSelection"/>). This is why the assembly is
/// built as an executable; as a library it is referenced like any other.
/// </summary>
internal static class ProbeEntryPoint
{
    private static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] != KernelProbe.ChildArgument || !KernelProbe.IsChild)
        {
            Console.Error.WriteLine("MLNetCnn.Architectures is a library. Its entry point runs the kernel probe for MLNetCnn.Architectures.Runtime.KernelSelection and nothing else.");
            return 2;
        }

        return KernelProbe.RunChild(args);
    }
}
