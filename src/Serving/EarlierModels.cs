using System.Reflection;
using System.Runtime.CompilerServices;

namespace MLNetCnn.Serving;

/// <summary>
/// Models saved before MLNetCnn.Serving existed store, next to each mapping's contract name, the assembly that
/// held it then: MLNetCnn.Estimators, which ML.NET loads while reading the zip. Where that assembly is absent (an
/// application that references the serving package alone), this assembly answers for it: it holds the same
/// contract names (<see cref="ScoreArgMax"/>, <see cref="ImageFileDecoder"/>, <see cref="ImageBytesDecoder"/>).
/// AppDomain's resolve event is used because it may return an assembly of another name; the load context's may not.
/// </summary>
internal static class EarlierModels
{
    private const string FormerHome = "MLNetCnn.Estimators";

#pragma warning disable CA2255 // Must be in place before ML.NET reads any saved model, whoever touches this assembly first.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize() => AppDomain.CurrentDomain.AssemblyResolve += (_, e) =>
        new AssemblyName(e.Name).Name == FormerHome ? typeof(ScoreArgMax).Assembly : null;
}
