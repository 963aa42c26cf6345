using System.Diagnostics;
using MLNetCnn.Cli.Output;

namespace MLNetCnn.Cli.Tests;

/// <summary>
/// Found by an outside sweep: <c>train --output</c> on a full disk (a 1 MB tmpfs) exited 1 with "No space left on device"
/// but left a truncated 1,048,576-byte model.zip. The model, the ONNX file and metrics.json are now written beside their
/// names and renamed once whole; a failed write leaves neither the file nor the temporary one.
/// </summary>
[TestClass]
public sealed class AtomicOutputTests
{
    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    public void AWriteThatFailsPartWayLeavesTheTargetAsItWasAndNoTemporaryFile()
    {
        string folder = Cli.TempFolder("atomic-unit");
        string target = Path.Combine(folder, "model.zip");
        var e = Assert.ThrowsExactly<IOException>(() => AtomicFile.Write(target, path => WriteThenFail(path, "No space left on device")));
        Assert.AreEqual("No space left on device", e.Message, "the writer's own error is reported");
        Assert.IsEmpty(Directory.GetFileSystemEntries(folder), "neither a truncated model.zip nor the temporary file");

        File.WriteAllText(target, "the previous run's model");
        Assert.ThrowsExactly<IOException>(() => AtomicFile.Write(target, path => WriteThenFail(path, "disk full")));
        Assert.AreEqual("the previous run's model", File.ReadAllText(target), "a failed write does not touch the file it would replace");
        Assert.HasCount(1, Directory.GetFileSystemEntries(folder));

        AtomicFile.Write(target, path => File.WriteAllText(path, "new"));
        Assert.AreEqual("new", File.ReadAllText(target));
        Assert.HasCount(1, Directory.GetFileSystemEntries(folder), "the temporary file was renamed, not copied");
    }

    /// <summary>A reviewer found the rename turning a link into a plain file (its target left stale) and a 0600 file into 0644.</summary>
    [TestMethod]
    public void AWriteFollowsALinkAndKeepsTheFilesPermissions()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Inconclusive("Unix links and modes.");
        }

        string folder = Cli.TempFolder("atomic-link");
        string store = Path.Combine(folder, "store");
        Directory.CreateDirectory(store);
        string real = Path.Combine(store, "model.zip");
        File.WriteAllText(real, "old");
        File.SetUnixFileMode(real, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        string link = Path.Combine(folder, "model.zip");
        File.CreateSymbolicLink(link, real);

        AtomicFile.Write(link, path => File.WriteAllText(path, "new"));
        Assert.IsNotNull(new FileInfo(link).LinkTarget, "the link is still a link");
        Assert.AreEqual("new", File.ReadAllText(real), "the file it points to was replaced");
        Assert.AreEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(real));
        Assert.HasCount(1, Directory.GetFileSystemEntries(store), "no temporary file left beside the target");
    }

    [TestMethod]
    public void TrainOnAFullDiskExitsOneAndLeavesNoTruncatedModel()
    {
        // resnet18 at width 0.25 is about 0.7 million parameters, so model.zip alone needs about 2.8 MB of the tmpfs's 1 MB.
        string data = Cli.TempFolder("full-disk-data");
        GeneratedImages.Write(data, perClass: 4, seed: 6);
        string output = Cli.TempFolder("full-disk-run");
        if (!Mount(output))
        {
            Assert.Inconclusive("mounting a 1 MB tmpfs needs root (CAP_SYS_ADMIN); not permitted here.");
            return;
        }

        try
        {
            var result = Cli.Run("train", "--data", data, "--output", output, "--arch", "resnet18", "--width", "0.25", "--image-size", "8", "--epochs", "1", "--batch", "4");
            Assert.AreEqual(1, result.ExitCode, result.ToString());
            StringAssert.Contains(result.Error, "No space left on device", result.ToString());
            string[] left = Directory.GetFiles(output).Select(Path.GetFileName).ToArray()!;
            Assert.IsFalse(left.Any(name => name!.StartsWith("model.", StringComparison.Ordinal) || name!.EndsWith(".partial", StringComparison.Ordinal)), $"left: {string.Join(", ", left)}");
        }
        finally
        {
            Run("umount", output);
        }
    }

    private static void WriteThenFail(string path, string message)
    {
        File.WriteAllBytes(path, new byte[1000]);
        throw new IOException(message);
    }

    private static bool Mount(string folder) => !OperatingSystem.IsWindows() && Run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", folder);

    private static bool Run(string command, params string[] arguments)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
