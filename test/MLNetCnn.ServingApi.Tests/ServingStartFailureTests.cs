using System.Diagnostics;
using MLNetCnn.Examples.ServingApi;
using MLNetCnn.TestSupport;

namespace MLNetCnn.ServingApi.Tests;

/// <summary>
/// Found by an outside sweep: the sample died with exit code 134 and a full stack trace for a model naming an assembly
/// version that does not exist and for '--MaxImagePixels abc', and '--MaxConcurrentPredictions 0' gave two lines naming
/// the C# parameter. Each is now one line on stderr naming the zip and what is missing, or the configuration key, its
/// value and what is expected, and exit code 1. So is a model whose graph was edited to take another input shape.
/// </summary>
[TestClass]
public sealed class ServingStartFailureTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task AModelNamingAnAssemblyVersionThatIsNotHereIsOneLineAndExitCode1()
    {
        var (current, other) = ModelZipRewrite.ServingAssemblyVersions();
        string zip = Path.Combine(Path.GetTempPath(), $"mlnetcnn-other-version-{Environment.ProcessId}.zip");
        ModelZipRewrite.Replace(DemoModelFixture.ModelPath, zip, current, other);
        try
        {
            string line = await FailingStartAsync(zip);
            StringAssert.Contains(line, zip);
            StringAssert.Contains(line, other);
        }
        finally
        {
            File.Delete(zip);
        }
    }

    [TestMethod]
    public async Task AModelWhoseGraphTakesAnotherShapeIsOneLineNamingTheZipAndExitCode1()
    {
        // The sweep's file: the demo model's graph input rewritten to 56 x 56 where its steps give 28 x 28. It loaded,
        // and the sample died at its first engine with exit code 134.
        string zip = Path.Combine(Path.GetTempPath(), $"mlnetcnn-input-56-{Environment.ProcessId}.zip");
        OnnxGraphEdit.SetShape(DemoModelFixture.ModelPath, zip, OnnxGraphEdit.Input, 1, 1, 56, 56);
        try
        {
            string line = await FailingStartAsync(zip);
            StringAssert.Contains(line, zip);
            StringAssert.Contains(line, "[1, 1, 56, 56] (3136 values a row)");
            StringAssert.Contains(line, "give 784 values a row");
        }
        finally
        {
            File.Delete(zip);
        }
    }

    [TestMethod]
    public async Task AValueThatIsNotANumberIsOneLineNamingTheKeyAndExitCode1()
    {
        string line = await FailingStartAsync(DemoModelFixture.ModelPath, "--MaxImagePixels", "abc");
        StringAssert.Contains(line, "'MaxImagePixels' is 'abc'");
        StringAssert.Contains(line, "whole number");
    }

    [TestMethod]
    public async Task AValueOutOfRangeIsOneLineNamingTheKeyAndExitCode1()
    {
        string line = await FailingStartAsync(DemoModelFixture.ModelPath, "--MaxConcurrentPredictions", "0");
        StringAssert.Contains(line, "'MaxConcurrentPredictions' is '0'");
        StringAssert.Contains(line, "from 1");
    }

    [TestMethod]
    public void EveryLimitIsCheckedBeforeTheModelLoads()
    {
        // In process, without a model: the settings are read first, so each bad value stops the start by itself.
        string[][] bad =
        [
            ["--MaxConnections", "0"], ["--MaxConcurrentUploads", "-1"], ["--MaxImagePixels", "1e9"],
            ["--UploadTimeoutSeconds", "0"], ["--UploadTimeoutSeconds", "abc"], ["--UploadQueueTimeoutSeconds", "-1"],
            ["--RequestHeadersTimeoutSeconds", "0"], ["--RequestHeadersTimeoutSeconds", "1e6"],
        ];
        foreach (string[] setting in bad)
        {
            var e = Assert.ThrowsExactly<ServingConfigurationException>(() => ServingApp.Build(["--urls", "http://127.0.0.1:0", .. setting], "no-such-model.zip"), string.Join(' ', setting));
            StringAssert.Contains(e.Message, $"'{setting[0][2..]}' is '{setting[1]}'");
        }
    }

    /// <summary>Starts the sample's executable, which must exit with code 1 and one line on stderr; returns that line.</summary>
    private async Task<string> FailingStartAsync(string model, params string[] settings)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "ServingApi.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in (string[])[dll, "--ModelPath", model, "--urls", "http://127.0.0.1:0", .. settings])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.CancellationToken);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(TestContext.CancellationToken);
        wait.CancelAfter(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        string stderr = await error;
        TestContext.WriteLine($"exit code {process.ExitCode}; stdout: {await output}; stderr: {stderr}");
        Assert.AreEqual(1, process.ExitCode, stderr);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.HasCount(1, lines, stderr);
        return lines[0];
    }
}
