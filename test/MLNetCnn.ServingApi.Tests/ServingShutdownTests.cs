using System.Diagnostics;
using System.Text.RegularExpressions;

namespace MLNetCnn.ServingApi.Tests;

/// <summary>
/// Found by an outside sweep: the sample started and stopped with SIGTERM before any request left ML.NET's temporary
/// copy of the graph in /tmp, because the container disposes a singleton registered through a factory only once it was
/// resolved. The sample runs here as its own process with a temp folder of its own, which must be empty after it exits.
/// </summary>
[TestClass]
public sealed partial class ServingShutdownTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task StoppingTheServiceBeforeAnyRequestLeavesNoTemporaryFile()
    {
        string temp = Directory.CreateTempSubdirectory("mlnetcnn-shutdown-").FullName;
        try
        {
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList = { Path.Combine(AppContext.BaseDirectory, "ServingApi.dll"), "--ModelPath", DemoModelFixture.ModelPath, "--urls", "http://127.0.0.1:0" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                Environment = { ["TMPDIR"] = temp, ["DOTNET_EnableDiagnostics"] = "0" }, // ML.NET's TempFilePath; no diagnostics socket there
            };
            using var process = Process.Start(start)!;
            var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is { } line && ListeningLine().IsMatch(line))
                {
                    listening.TrySetResult();
                }
            };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                await listening.Task.WaitAsync(TimeSpan.FromSeconds(90), TestContext.CancellationToken);
                Assert.IsNotEmpty(Copies(temp), "the model's graph copy exists while the service runs");
                using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                {
                    await kill.WaitForExitAsync(TestContext.CancellationToken);
                }

                await process.WaitForExitAsync(TestContext.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30), TestContext.CancellationToken);
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }

            Assert.AreEqual(0, process.ExitCode, "a SIGTERM is a clean shutdown");
            string[] left = Copies(temp);
            Assert.IsEmpty(left, $"left in the temp folder after shutdown: {string.Join(", ", left.Select(f => $"{Path.GetFileName(f)} ({new FileInfo(f).Length} bytes)"))}");
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>The files in <paramref name="temp"/> but the dotnet host's hidden ones (a 51-byte '.ses').</summary>
    private static string[] Copies(string temp) => Directory.GetFiles(temp).Where(f => !Path.GetFileName(f).StartsWith('.')).ToArray();

    [GeneratedRegex(@"Now listening on: http://\S+")]
    private static partial Regex ListeningLine();
}
