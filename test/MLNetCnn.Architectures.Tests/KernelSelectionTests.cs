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
        if (choice.CacheSizes is not null)
        {
            StringAssert.StartsWith(OneDnnCacheSizes.Outcome, "set", "the cache sizes the verdict needs were given to oneDNN in this process");
        }

        Assert.IsNotNull(choice.BFloat16Slowdown, "the probe times bfloat16 against float32");
        if (!HostCpu.Current.HasNativeBFloat16)
        {
            Assert.AreEqual(BFloat16Kernels.NotNative, choice.BFloat16, choice.BFloat16Reason);
        }
    }

    [TestMethod]
    public void AFailingCheckFallsBackToTheNextInstructionSetAndTheVerdictIsCached()
    {
        var candidates = KernelSelection.Candidates(HostCpu.Current, HostCpu.Current.HidesCaches).Select(c => KernelSelection.CandidateName(c.Isa, c.CacheFix)).ToList();
        if (candidates.Count < 3)
        {
            Assert.Inconclusive($"this CPU offers only {string.Join(", ", candidates)}");
        }

        // What this host chooses with nothing injected: on a CPU whose own faults reject the third candidate too, the choice
        // with faults injected is that one.
        var clean = KernelSelection.Current;
        bool cleanIsLower = candidates.IndexOf(KernelSelection.CandidateName(clean.Isa, clean.CacheSizes is not null)) >= 2 && clean.Source is KernelChoiceSource.Probe or KernelChoiceSource.Cache;
        string expected = cleanIsLower ? clean.Isa : candidates[2].Replace(KernelSelection.CacheFixSuffix, string.Empty, StringComparison.Ordinal);
        string cache = Directory.CreateTempSubdirectory("mlnetcnn-kernels-").FullName;
        try
        {
            var faults = new Dictionary<string, string> { [candidates[0]] = "float32", [candidates[1]] = "crash" };
            var choice = KernelSelection.Select(new ProbeSettings(cache, faults, ProbeTimeout));
            Assert.AreEqual(expected, choice.Isa, choice.ToString());
            Assert.AreEqual(KernelChoiceSource.Probe, choice.Source);
            Assert.HasCount(cleanIsLower ? clean.Rejected.Count : 2, choice.Rejected);
            StringAssert.StartsWith(choice.Rejected[0], candidates[0] + ":");
            StringAssert.StartsWith(choice.Rejected[1], candidates[1] + ":");
            if (!cleanIsLower)
            {
                // Where the host's own faults come first (a crash before the checks), the injected ones are not reached.
                StringAssert.Contains(choice.Rejected[0], "injected");
                StringAssert.Contains(choice.Rejected[1], "SIGFPE");
            }

            StringAssert.Contains(choice.ToString(), $"oneDNN limited to {expected}");

            // The verdict is kept per host: the next process reads it without probing (no fault is injected now).
            var clock = Stopwatch.StartNew();
            var cached = KernelSelection.Select(new ProbeSettings(cache, new Dictionary<string, string>(), ProbeTimeout));
            Assert.IsLessThan(1.0, clock.Elapsed.TotalSeconds, "a cached verdict starts no probe process");
            Assert.AreEqual(KernelChoiceSource.Cache, cached.Source);
            Assert.AreEqual(expected, cached.Isa);
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
    public void AStridedOneByOneFaultIsRecordedButRejectsNoInstructionSet()
    {
        var clean = KernelSelection.Current;
        if (clean.Source is not (KernelChoiceSource.Probe or KernelChoiceSource.Cache))
        {
            Assert.Inconclusive($"the library ran unprobed here: {clean}");
        }

        // Every candidate's strided 1x1 child crashes (injected), as the AVX-512 one did on the Zen 5 VM (heap corruption in the
        // strided backward-weights kernel): the models never run those kernels, so the choice is the one made without faults,
        // and the verdict says what happened.
        var faults = KernelSelection.Candidates(HostCpu.Current, HostCpu.Current.HidesCaches)
            .ToDictionary(c => KernelSelection.CandidateName(c.Isa, c.CacheFix), _ => KernelSelection.StridedFaultPrefix + "crash");
        string cache = Directory.CreateTempSubdirectory("mlnetcnn-kernels-").FullName;
        try
        {
            var choice = KernelSelection.Select(new ProbeSettings(cache, faults, ProbeTimeout));
            Assert.AreEqual(clean.Isa, choice.Isa, choice.ToString());
            Assert.AreEqual(clean.CacheSizes is null, choice.CacheSizes is null, choice.ToString());
            Assert.IsNotNull(choice.StridedPointwiseFault, choice.ToString());
            StringAssert.Contains(choice.StridedPointwiseFault, "SIGFPE");
            StringAssert.Contains(choice.ToString(), "strided 1x1 kernels, which the library's models do not run, failed here");

            var cached = KernelSelection.Select(new ProbeSettings(cache, new Dictionary<string, string>(), ProbeTimeout));
            Assert.AreEqual(choice.StridedPointwiseFault, cached.StridedPointwiseFault, "the verdict keeps the finding");
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    [TestMethod]
    public void OneDnnIsGivenCacheSizesWhereTheCpuHidesThem()
    {
        if (!HostCpu.Current.SupportedIsas.Contains("AVX2"))
        {
            Assert.Inconclusive("this CPU has no AVX2, the level the cache sizes are tried at");
        }

        // Every host: the child finds oneDNN's CPU description in libtorch 2.10 and reads its caches. On a CPU that reports
        // none (the AMD EPYC Zen 5 VM: 1-byte levels) it writes oneDNN's fallback sizes, and the checks that crashed there
        // with SIGFPE at AVX2 then agree with float64; elsewhere nothing is written.
        var run = KernelProbe.Run("AVX2", bfloat16: false, failOn: null, ProbeTimeout, cacheFix: true);
        Assert.IsTrue(run.Passed, run.Why);
        Assert.IsNotNull(run.CacheSizes, run.Why);
        StringAssert.StartsWith(run.CacheSizes, HostCpu.Current.HidesCaches ? "set: the CPU reports caches of L1 1 B" : "not needed", run.CacheSizes);
    }

    [TestMethod]
    public void OnACpuThatHidesItsCachesEachLevelIsTriedWithCacheSizesFirst()
    {
        var candidates = KernelSelection.Candidates(HostCpu.Current, cachesHidden: true).Select(c => KernelSelection.CandidateName(c.Isa, c.CacheFix)).ToList();
        int avx2 = candidates.IndexOf("AVX2" + KernelSelection.CacheFixSuffix);
        if (avx2 < 0)
        {
            Assert.Inconclusive("this CPU has no AVX2");
        }

        string cache = Directory.CreateTempSubdirectory("mlnetcnn-kernels-").FullName;
        try
        {
            // Every candidate above AVX2 with cache sizes fails (injected); AVX2 with cache sizes passes, as it did on the Zen 5 VM.
            var faults = candidates.Take(avx2).ToDictionary(name => name, _ => "crash");
            var choice = KernelSelection.Select(new ProbeSettings(cache, faults, ProbeTimeout, CachesHidden: true));
            Assert.AreEqual("AVX2", choice.Isa, choice.ToString());
            Assert.IsNotNull(choice.CacheSizes, choice.ToString());
            Assert.HasCount(avx2, choice.Rejected);
            StringAssert.StartsWith(choice.Rejected[0], KernelChoice.DefaultIsa + KernelSelection.CacheFixSuffix + ": ", "a level is tried with the cache sizes first");
            StringAssert.StartsWith(choice.Rejected[1], KernelChoice.DefaultIsa + ": ", "then as it is");
            StringAssert.Contains(choice.ToString(), "oneDNN limited to AVX2, with oneDNN's fallback cache sizes");

            var cached = KernelSelection.Select(new ProbeSettings(cache, new Dictionary<string, string>(), ProbeTimeout, CachesHidden: true));
            Assert.AreEqual(KernelChoiceSource.Cache, cached.Source);
            Assert.AreEqual(choice.CacheSizes, cached.CacheSizes, "the verdict keeps what was done about the caches, for the next process to apply");
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
