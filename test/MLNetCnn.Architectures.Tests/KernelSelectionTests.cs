using System.Diagnostics;
using MLNetCnn.Architectures.Runtime;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Tests;

/// <summary>
/// The kernel probe (<see cref="KernelSelection"/>): the instruction set it chose for this host computes
/// right, a failing or crashing level falls back to the next lower one, and the verdict is cached.
/// </summary>
[TestClass]
public sealed class KernelSelectionTests
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromMinutes(2);

    [TestMethod]
    public void ChosenInstructionSetComputesEveryWidthRight()
    {
        // The widths where wrong oneDNN kernels were seen (8, 24, 40 at AVX-512; 12, 20, 28, 36 at AVX2),
        // run in this process at the instruction set the library chose for this host.
        foreach (int channels in new[] { 1, 3, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48 })
        {
            using var scope = NewDisposeScope();
            var g = new Generator(3);
            var x = randn(new long[] { 2, channels, 16, 16 }, generator: g).requires_grad_();
            var w = randn(new long[] { 64, channels, 3, 3 }, generator: g).requires_grad_();
            var single = nn.functional.conv2d(x, w, padding: new long[] { 1, 1 });
            single.sum().backward();
            var x64 = x.detach().to(ScalarType.Float64).requires_grad_();
            var w64 = w.detach().to(ScalarType.Float64).requires_grad_();
            var reference = nn.functional.conv2d(x64, w64, padding: new long[] { 1, 1 });
            reference.sum().backward();
            foreach (var (what, actual, expected) in new[] { ("forward", single, reference), ("input gradient", x.grad!, x64.grad!), ("weight gradient", w.grad!, w64.grad!) })
            {
                double error = (actual.to(ScalarType.Float64) - expected).abs().max().item<double>() / expected.abs().max().item<double>();
                Assert.IsTrue(error < 1e-4, $"3x3 conv from {channels} channels, {what}: float32 differs from float64 by {error} (relative) at {KernelSelection.Current}");
            }
        }
    }

    [TestMethod]
    public void TheChoiceIsMadeOnThisHostAndApplied()
    {
        var choice = KernelSelection.Current;
        Assert.AreNotEqual(KernelChoiceSource.Unverified, choice.Source, $"the library ran unprobed here: {choice}");
        string? applied = Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA");
        if (choice.Source != KernelChoiceSource.User)
        {
            Assert.AreEqual(choice.Isa == KernelChoice.DefaultIsa ? null : choice.Isa, applied, $"ONEDNN_MAX_CPU_ISA does not carry the choice {choice}");
        }

        StringAssert.Contains(choice.ToString(), choice.Reason);
        Assert.IsNotNull(choice.BFloat16Slowdown, "the probe times bfloat16 against float32");
        if (!HostCpu.Current.HasNativeBFloat16)
        {
            Assert.AreEqual(BFloat16Kernels.NotNative, choice.BFloat16, choice.BFloat16Reason);
        }
    }

    [TestMethod]
    public void AFailingCheckFallsBackToTheNextInstructionSetAndTheVerdictIsCached()
    {
        var candidates = HostCpu.Current.SupportedIsas.Prepend(KernelChoice.DefaultIsa).ToList();
        if (candidates.Count < 3)
        {
            Assert.Inconclusive($"this CPU offers only {string.Join(", ", candidates)}");
        }

        string cache = Directory.CreateTempSubdirectory("mlnetcnn-kernels-").FullName;
        try
        {
            var faults = new Dictionary<string, string> { [candidates[0]] = "float32", [candidates[1]] = "crash" };
            var choice = KernelSelection.Select(new ProbeSettings(cache, faults, ProbeTimeout));
            Assert.AreEqual(candidates[2], choice.Isa, choice.ToString());
            Assert.AreEqual(KernelChoiceSource.Probe, choice.Source);
            Assert.HasCount(2, choice.Rejected);
            StringAssert.Contains(choice.Rejected[0], "injected");
            StringAssert.StartsWith(choice.Rejected[0], candidates[0]);
            StringAssert.Contains(choice.Rejected[1], "SIGFPE");
            StringAssert.StartsWith(choice.Rejected[1], candidates[1]);
            StringAssert.Contains(choice.ToString(), $"oneDNN limited to {candidates[2]}");

            // The verdict is kept per host: the next process reads it without probing (no fault is injected now).
            var clock = Stopwatch.StartNew();
            var cached = KernelSelection.Select(new ProbeSettings(cache, new Dictionary<string, string>(), ProbeTimeout));
            Assert.IsLessThan(1.0, clock.Elapsed.TotalSeconds, "a cached verdict starts no probe process");
            Assert.AreEqual(KernelChoiceSource.Cache, cached.Source);
            Assert.AreEqual(candidates[2], cached.Isa);
            CollectionAssert.AreEqual(choice.Rejected.ToList(), cached.Rejected.ToList());
            Assert.IsNotNull(cached.CachePath);
            StringAssert.Contains(cached.ToString(), cached.CachePath);
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    [TestMethod]
    public void ADamagedCacheIsProbedAgain()
    {
        string cache = Directory.CreateTempSubdirectory("mlnetcnn-kernels-").FullName;
        try
        {
            var first = KernelSelection.Select(new ProbeSettings(cache, new Dictionary<string, string>(), ProbeTimeout));
            Assert.AreEqual(KernelChoiceSource.Probe, first.Source, first.ToString());
            File.WriteAllText(first.CachePath!, "{ not json");
            var again = KernelSelection.Select(new ProbeSettings(cache, new Dictionary<string, string>(), ProbeTimeout));
            Assert.AreEqual(KernelChoiceSource.Probe, again.Source, "a damaged cache file is not trusted");
            Assert.AreEqual(first.Isa, again.Isa);
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }
}
