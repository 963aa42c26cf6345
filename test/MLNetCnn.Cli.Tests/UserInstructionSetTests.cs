using System.Diagnostics;

namespace MLNetCnn.Cli.Tests;

/// <summary>
/// <c>ONEDNN_MAX_CPU_ISA</c> set by the user wins over the kernel probe (docs/kernels.md). On a virtual CPU that hides
/// its caches oneDNN plans for 1-byte caches, and at the user's AVX2 it then computed wrong 3x3 convolutions (errors
/// 0.46 to 0.55 on the AMD EPYC Zen 5 VM) and trained on them without a word: the library now gives oneDNN its fallback
/// cache sizes there too (with them AVX2's convolutions are right: KernelSelectionTests.OneDnnIsGivenCacheSizesWhereTheCpuHidesThem).
/// </summary>
[TestClass]
public sealed class UserInstructionSetTests
{
    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    public void TrainingAtAnInstructionSetTheUserSetRunsAndSaysSo()
    {
        if (!File.ReadLines("/proc/cpuinfo").Any(l => l.StartsWith("flags", StringComparison.Ordinal) && l.Split(' ').Contains("avx2")))
        {
            Assert.Inconclusive("this CPU has no AVX2");
        }

        // A process of its own: oneDNN reads ONEDNN_MAX_CPU_ISA once per process, and this one's is the probe's choice.
        string images = Cli.TempFolder("user-isa-images");
        string output = Cli.TempFolder("user-isa-run");
        GeneratedImages.Write(images, perClass: 8, seed: 5);
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[] { "exec", Path.Combine(AppContext.BaseDirectory, "MLNetCnn.Cli.dll"), "train", "--data", images, "--output", output, "--epochs", "1", "--image-size", "16", "--width", "0.25", "--batch", "8" })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["ONEDNN_MAX_CPU_ISA"] = "AVX2";
        using var process = Process.Start(start)!;
        var standardOutput = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("train did not finish in five minutes");
        }

        string text = standardOutput.Result;
        string run = $"exit {process.ExitCode}\n--- output ---\n{text}\n--- error ---\n{error.Result}";

        Assert.AreEqual(0, process.ExitCode, run);
        StringAssert.Contains(text, "Kernels: oneDNN limited to AVX2", run);
        StringAssert.Contains(text, "set by the user", run);
        // Where an AMD CPU hides its caches (no /sys cache folder), oneDNN reads 1-byte ones from the empty CPUID leaf.
        bool amd = File.ReadLines("/proc/cpuinfo").Any(l => l.StartsWith("vendor_id", StringComparison.Ordinal) && l.Contains("AuthenticAMD", StringComparison.Ordinal));
        if (amd && !Directory.Exists("/sys/devices/system/cpu/cpu0/cache"))
        {
            StringAssert.Contains(text, "with oneDNN's fallback cache sizes (set: the CPU reports caches of L1 1 B", run);
        }
    }
}
