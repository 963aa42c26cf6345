using MLNetCnn.TestSupport;
using System.Diagnostics;
using System.Text.Json;

namespace MLNetCnn.ServingApi.Tests;

/// <summary>
/// The service depends on MLNetCnn.Serving alone: its build output holds no libtorch or TorchSharp file, and the
/// serving project references neither TorchSharp nor the training libraries, directly or transitively.
/// </summary>
[TestClass]
public sealed class ServingWithoutLibtorchTests
{
    private static readonly string Repository = RepositoryRoot.Find();

    [TestMethod]
    public void TheServiceOutputFolderHoldsNoLibtorchOrTorchSharp()
    {
        // The service's own build output (this test project's output also holds the demo trainer's libtorch).
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        string output = Path.Combine(Repository, "examples", "ServingApi", "bin", configuration, "net10.0");
        Assert.IsTrue(File.Exists(Path.Combine(output, "ServingApi.dll")), $"{output} holds the built service");
        Assert.IsTrue(File.Exists(Path.Combine(output, "MLNetCnn.Serving.dll")));
        var torch = Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories)
            .Select(Path.GetFileName)
            .Where(f => f!.StartsWith("libtorch", StringComparison.Ordinal) || f.StartsWith("TorchSharp", StringComparison.Ordinal) || f.Contains("LibTorchSharp", StringComparison.Ordinal) || f.StartsWith("MLNetCnn.Architectures", StringComparison.Ordinal))
            .ToList();
        CollectionAssert.AreEqual(new List<string>(), torch, $"libtorch or TorchSharp files in {output}");
        long megabytes = Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) / (1024 * 1024);
        Assert.IsTrue(megabytes < 1024, $"the service output is {megabytes} MB");
    }

    [TestMethod]
    public void TheServingProjectDependsOnMLNetAndOnnxRuntimeOnly()
    {
        string project = Path.Combine(Repository, "src", "Serving", "MLNetCnn.Serving.csproj");
        var start = new ProcessStartInfo("dotnet", ["msbuild", project, "-getItem:PackageReference", "-getItem:ProjectReference"]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Repository };
        using var process = Process.Start(start)!;
        string json = process.StandardOutput.ReadToEnd();
        Assert.IsTrue(process.WaitForExit(120_000));
        Assert.AreEqual(0, process.ExitCode, json + process.StandardError.ReadToEnd());
        var items = JsonDocument.Parse(json).RootElement.GetProperty("Items");
        var packages = items.GetProperty("PackageReference").EnumerateArray().Select(i => i.GetProperty("Identity").GetString()!).Order(StringComparer.Ordinal).ToList();
        CollectionAssert.AreEqual(
            new[] { "Microsoft.ML", "Microsoft.ML.ImageAnalytics", "Microsoft.ML.OnnxRuntime.Gpu", "Microsoft.ML.OnnxRuntime.Managed", "Microsoft.ML.OnnxTransformer" },
            packages.ToArray());
        Assert.IsFalse(items.TryGetProperty("ProjectReference", out var projects) && projects.GetArrayLength() > 0, "no project reference (Architectures, Tricks)");

        // Transitively too: the restore graph of the serving project holds no TorchSharp or libtorch package.
        string assets = Path.Combine(Repository, "src", "Serving", "obj", "project.assets.json");
        var libraries = JsonDocument.Parse(File.ReadAllText(assets)).RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name.ToLowerInvariant()).ToList();
        Assert.IsTrue(libraries.Count > 10, $"{assets} lists the restore graph");
        CollectionAssert.AreEqual(new List<string>(), libraries.Where(l => l.Contains("torch", StringComparison.Ordinal) || l.StartsWith("mlnetcnn.", StringComparison.Ordinal)).ToList());
    }
}
