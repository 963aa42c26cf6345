using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Tests;

[TestClass]
public sealed class TorchSharpLoadTests
{
    [TestMethod]
    public void NativeLibraryLoadsAndRunsAConvolution()
    {
        // Fails with a DllNotFoundException on Debian 12 unless the build marked GLIBCXX_3.4.32 weak.
        using var x = ones(1, 1, 5, 5);
        using var conv = nn.Conv2d(1, 1, 3, bias: false);
        using (no_grad())
        {
            conv.weight!.fill_(1);
        }

        using var y = conv.forward(x);
        CollectionAssert.AreEqual(new long[] { 1, 1, 3, 3 }, y.shape);
        Assert.AreEqual(9f, y[0, 0, 1, 1].item<float>());
    }

    [TestMethod]
    public void RuntimeFixLeavesABuildOutputAlone()
    {
        // The build patched this output folder; the run-time fix is for notebooks and scripts (TorchSharp in the NuGet cache).
        Assert.IsFalse(MLNetCnn.Architectures.Runtime.TorchSharpNative.EnsureLoadable());
        StringAssert.StartsWith(MLNetCnn.Architectures.Runtime.TorchSharpNative.Outcome, "not needed");
    }

    [TestMethod]
    public void OutputFolderCopyOfTheNativeLibraryIsMarkedWeak()
    {
        string? library = Directory.EnumerateFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories).FirstOrDefault();
        if (!OperatingSystem.IsLinux())
        {
            Assert.Inconclusive("The GLIBCXX fix applies to Linux builds only.");
        }

        Assert.IsNotNull(library, "libLibTorchSharp.so not found in the test output folder");
        byte[] system = File.ReadAllBytes(new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" }.First(File.Exists));
        bool systemHasVersion = system.AsSpan().IndexOf("GLIBCXX_3.4.32\0"u8) >= 0;
        var flags = ElfVersionNeeds.Flags(library!, "GLIBCXX_3.4.32");
        Assert.IsNotNull(flags, "GLIBCXX_3.4.32 requirement not found in libLibTorchSharp.so");
        Assert.AreEqual(!systemHasVersion, (flags.Value & 0x2) != 0, $"weak flag must be set exactly when the system libstdc++ lacks the version (system has it: {systemHasVersion})");
    }
}

/// <summary>Independent reader of .gnu.version_r flags (the build's patcher is tested against it).</summary>
internal static class ElfVersionNeeds
{
    public static ushort? Flags(string path, string version)
    {
        byte[] elf = File.ReadAllBytes(path);
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            int sh = (int)(shoff + (s * shentsize));
            if (BitConverter.ToUInt32(elf, sh + 4) != 0x6ffffffe)
            {
                continue;
            }

            int offset = (int)BitConverter.ToInt64(elf, sh + 24);
            int link = BitConverter.ToInt32(elf, sh + 40);
            int strtab = (int)BitConverter.ToInt64(elf, (int)shoff + (link * shentsize) + 24);
            int need = offset;
            for (int n = 0; n < BitConverter.ToInt32(elf, sh + 44); n++)
            {
                int aux = need + BitConverter.ToInt32(elf, need + 8);
                for (int a = 0; a < BitConverter.ToUInt16(elf, need + 2); a++)
                {
                    int name = strtab + BitConverter.ToInt32(elf, aux + 8);
                    int end = Array.IndexOf(elf, (byte)0, name);
                    if (System.Text.Encoding.ASCII.GetString(elf, name, end - name) == version)
                    {
                        return BitConverter.ToUInt16(elf, aux + 4);
                    }

                    aux += BitConverter.ToInt32(elf, aux + 12);
                }

                need += BitConverter.ToInt32(elf, need + 12);
            }
        }

        return null;
    }
}
