using System.Reflection;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators;
using MLNetCnn.Tricks.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// The library never hands libtorch a temporary <see cref="Scalar"/> (see
/// <c>MLNetCnn.Architectures.Runtime.Scalars</c>: a collection on another thread can free one during
/// the native call). This reads the IL of the three library assemblies and fails on (1) a Scalar made
/// by an implicit conversion or <c>ToScalar</c> that is not stored straight into a local or a static
/// field, (2) a call to a TorchSharp method that makes a temporary Scalar itself, found by
/// following TorchSharp's own call graph (for example <c>Tensor.add(Tensor)</c>, whose default
/// <c>alpha</c> is one, or <c>SGD.step</c>), and (3) building a TorchSharp module whose forward does (TorchSharp's
/// <c>BatchNorm2d</c>). A soak test in the Tricks tests shows the
/// failure this prevents.
/// </summary>
[TestClass]
public sealed class ScalarLifetimeLintTests
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    [TestMethod]
    public void TheLibraryPassesNoTemporaryScalarToLibtorch()
    {
        var unsafeTorchSharp = UnsafeTorchSharpMethods();
        Assert.IsTrue(unsafeTorchSharp.Contains("TorchSharp.torch+Tensor::Tensor add(Tensor)"), "the scan finds the known unsafe overload (a broken scan would pass everything)");
        Assert.IsTrue(unsafeTorchSharp.Contains("TorchSharp.Modules.BatchNorm::Tensor forward(Tensor)"));
        Assert.IsTrue(unsafeTorchSharp.Any(k => k.StartsWith("TorchSharp.Modules.SGD::", StringComparison.Ordinal) && k.Contains(" step(", StringComparison.Ordinal)), "the scan follows the optimizer's update lambda");
        Assert.IsNotNull(UnsafeForward(typeof(nn).GetMethod("BatchNorm2d")!, unsafeTorchSharp), "TorchSharp's BatchNorm2d factory is caught");

        var findings = new List<string>();
        foreach (var assembly in new[] { typeof(ImageClassifier).Assembly, typeof(ClassifierTrainer).Assembly, typeof(ImageClassificationTrainer).Assembly })
        {
            foreach (var (method, calls) in Methods(assembly))
            {
                foreach (var call in calls)
                {
                    string key = Key(call.Target);
                    bool makesScalar = call.Target.DeclaringType == typeof(Scalar) && call.Target.Name == "op_Implicit"
                        || call.Target.Name == "ToScalar" && call.Target.DeclaringType?.Name == "ScalarExtensionMethods";
                    if (makesScalar && !call.StoredImmediately)
                    {
                        findings.Add($"{method}: a temporary Scalar from {call.Target.Name}");
                    }
                    else if (unsafeTorchSharp.Contains(key))
                    {
                        findings.Add($"{method}: calls {key}, which makes a temporary Scalar");
                    }
                    else if ((call.Constructs || call.Target is MethodInfo) && UnsafeForward(call.Target, unsafeTorchSharp) is { } forward)
                    {
                        findings.Add($"{method}: builds a module whose forward, {forward}, makes a temporary Scalar");
                    }
                }
            }
        }

        Assert.AreEqual(0, findings.Count, "Pass a Scalar held in a 'using var' or a static field instead:\n" + string.Join("\n", findings.Distinct()));
    }

    /// <summary>The forward of the module a factory returns or a constructor builds, when TorchSharp's forward is unsafe.</summary>
    private static string? UnsafeForward(MethodBase target, HashSet<string> unsafeTorchSharp)
    {
        var built = target is ConstructorInfo ? target.DeclaringType : (target as MethodInfo)?.ReturnType;
        if (built is null || !typeof(nn.Module).IsAssignableFrom(built))
        {
            return null;
        }

        var forward = built.GetMethod("forward", [typeof(torch.Tensor)]);
        return forward is not null && unsafeTorchSharp.Contains(Key(forward)) ? Key(forward) : null;
    }

    /// <summary>TorchSharp methods that make a temporary Scalar, directly or through the methods they call.</summary>
    private static HashSet<string> UnsafeTorchSharpMethods()
    {
        var graph = Methods(typeof(torch).Assembly).ToDictionary(m => m.Key, m => m.Calls.Select(c => Key(c.Target)).ToList());
        var result = graph.Where(kv => kv.Value.Any(c => c.StartsWith("TorchSharp.Scalar::TorchSharp.Scalar op_Implicit", StringComparison.Ordinal))).Select(kv => kv.Key).ToHashSet();
        bool grew = true;
        while (grew)
        {
            grew = false;
            foreach (var (method, callees) in graph)
            {
                if (!result.Contains(method) && callees.Any(result.Contains))
                {
                    result.Add(method);
                    grew = true;
                }
            }
        }

        return result;
    }

    private sealed record Call(MethodBase Target, bool StoredImmediately, bool Constructs);

    private static IEnumerable<(string Key, List<Call> Calls)> Methods(Assembly assembly)
    {
        Type[] types;
        try
        {
            types = assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            types = e.Types.Where(t => t is not null).ToArray()!;
        }

        foreach (var type in types)
        {
            foreach (var method in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
            {
                yield return (Key(method), Calls(method, type));
            }
        }
    }

    /// <summary>call, callvirt, newobj and ldftn targets, found by a byte scan of the IL (an operand that is not a method token fails to resolve and is skipped).</summary>
    private static List<Call> Calls(MethodBase method, Type type)
    {
        var calls = new List<Call>();
        byte[]? il;
        try
        {
            il = method.GetMethodBody()?.GetILAsByteArray();
        }
        catch (Exception e) when (e is BadImageFormatException or InvalidOperationException or NotSupportedException)
        {
            return calls;
        }

        if (il is null)
        {
            return calls;
        }

        for (int i = 0; i + 4 < il.Length; i++)
        {
            // ldftn (FE 06) counts as a call: TorchSharp's optimizers run their update in a lambda.
            bool loadsFunction = il[i] == 0xFE && i + 5 < il.Length && il[i + 1] == 0x06;
            if (il[i] is not (0x28 or 0x6F or 0x73) && !loadsFunction)
            {
                continue;
            }

            int token = BitConverter.ToInt32(il, loadsFunction ? i + 2 : i + 1);
            if ((token >> 24) is not (0x06 or 0x0A or 0x2B))
            {
                continue;
            }

            try
            {
                var target = type.Module.ResolveMethod(token, type.IsGenericType ? type.GetGenericArguments() : null, method.IsGenericMethod ? method.GetGenericArguments() : null);
                if (target is not null)
                {
                    int next = i + 5 < il.Length ? il[i + 5] : -1;
                    bool stored = next is (>= 0x0A and <= 0x0D) or 0x13 or 0x80 || (next == 0xFE && i + 6 < il.Length && il[i + 6] == 0x0E);
                    calls.Add(new Call(target, stored, il[i] == 0x73));
                }
            }
            catch (Exception e) when (e is ArgumentException or BadImageFormatException or TypeLoadException or MissingMethodException)
            {
                // Not a method token at this offset.
            }
        }

        return calls;
    }

    private static string Key(MethodBase method) => method.DeclaringType?.FullName + "::" + method;
}
