using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using MLNetCnn.Examples.ServingApi;
using MLNetCnn.TestSupport;

namespace MLNetCnn.ServingApi.Tests;

/// <summary>
/// Issue 11, rows 1 and 2: the sample runs as its own process on a loopback port and takes a bounded burst that
/// mixes decompression bombs, truncated images, bytes that are no image, images just under the decode limit and
/// ordinary images. Every answer has the right status (never a 5xx) and the right label, the server's peak
/// memory stays within a small multiple of the decode limit, and it returns near its starting level once the
/// burst is over.
/// </summary>
[TestClass]
public sealed partial class ServingLoadTests
{
    private const int Slots = 2;
    private const long MiB = 1 << 20;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task ABurstOfBombsTruncatedAndValidImagesIsAnsweredWithinAMemoryCeiling()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Inconclusive("The memory figures come from /proc/<pid>/status (Linux).");
        }

        using var server = await ServerProcess.StartAsync(DemoModelFixture.ModelPath, Slots, TestContext.CancellationToken);
        using var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(120) };
        var samples = DemoModelFixture.Samples;
        var expected = new List<string>();
        foreach (var (png, _) in samples)
        {
            expected.Add((await PredictAsync(client, png)).Label);
        }

        long baseline = server.Memory("VmRSS");
        var nearLimit = CraftedImages.Png(6300, 6300, rows: 6300); // 39.7 megapixels, complete: decoded and scored
        var noise = new byte[100_000];
        new Random(3).NextBytes(noise);
        var requests = new List<(string Kind, byte[] Body, HttpStatusCode Status, string? Label)>();
        for (int i = 0; i < 8; i++)
        {
            requests.Add(("bomb 60000 x 60000", CraftedImages.Png(60000, 60000), HttpStatusCode.RequestEntityTooLarge, null));
            requests.Add(("bomb 20000 x 20000", CraftedImages.Png(20000, 20000), HttpStatusCode.RequestEntityTooLarge, null));
            requests.Add(("truncated", samples[i % samples.Count].Png[..(samples[i % samples.Count].Png.Length * 2 / 3)], HttpStatusCode.BadRequest, null));
            requests.Add(("not an image", noise, HttpStatusCode.BadRequest, null));
            requests.Add(("valid", samples[i % samples.Count].Png, HttpStatusCode.OK, expected[i % samples.Count]));
            requests.Add(("valid", samples[(i + 8) % samples.Count].Png, HttpStatusCode.OK, expected[(i + 8) % samples.Count]));
        }

        for (int i = 0; i < 4; i++)
        {
            requests.Add(("near the limit", nearLimit, HttpStatusCode.OK, null));
        }

        new Random(5).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(requests));
        using var gate = new SemaphoreSlim(8);
        var clock = Stopwatch.StartNew();
        var answers = await Task.WhenAll(requests.Select(async request =>
        {
            await gate.WaitAsync(TestContext.CancellationToken);
            try
            {
                using var response = await client.PostAsync("/predict", new ByteArrayContent(request.Body), TestContext.CancellationToken);
                return (request, response.StatusCode, Body: await response.Content.ReadAsStringAsync(TestContext.CancellationToken));
            }
            finally
            {
                gate.Release();
            }
        }));
        double seconds = clock.Elapsed.TotalSeconds;
        long peak = server.Memory("VmHWM");
        long afterBurst = server.Memory("VmRSS");
        foreach (var (request, status, body) in answers)
        {
            Assert.AreEqual(request.Status, status, $"{request.Kind}: {body}");
            if (request.Label is { } label)
            {
                StringAssert.Contains(body, $"\"label\":\"{label}\"", request.Kind);
            }
        }

        await Task.Delay(IdleMemoryTrim.Delay + TimeSpan.FromSeconds(3), TestContext.CancellationToken);
        long idle = server.Memory("VmRSS");
        TestContext.WriteLine($"{requests.Count} requests, 8 in flight, {Slots} scoring slots, {seconds:F1} s: server RSS {baseline / MiB} MB at start, peak {peak / MiB} MB, {afterBurst / MiB} MB after the burst, {idle / MiB} MB after {IdleMemoryTrim.Delay.TotalSeconds + 3:F0} s idle");

        // Two slots, each decoding at most one image at the limit into a bitmap and its MLImage copy (2 x 4 bytes a
        // pixel, 320 MB at 40 megapixels), plus bodies, ONNX Runtime and the runtime's own growth. One 60000 x 60000
        // bomb decoded as before would need 14 GB.
        long ceiling = baseline + (Slots * 2 * 4 * 40_000_000L) + (400 * MiB);
        Assert.IsTrue(peak < ceiling, $"peak RSS {peak / MiB} MB; ceiling {ceiling / MiB} MB (start {baseline / MiB} MB)");
        Assert.IsTrue(idle < baseline + (200 * MiB), $"RSS {idle / MiB} MB after the burst and an idle pause; {baseline / MiB} MB at start");
    }

    private static async Task<PredictionResponse> PredictAsync(HttpClient client, byte[] png)
    {
        using var response = await client.PostAsync("/predict", new ByteArrayContent(png));
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<PredictionResponse>())!;
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningLine();

    /// <summary>The sample's own executable (copied next to the tests), started with dotnet on a free loopback port.</summary>
    private sealed class ServerProcess : IDisposable
    {
        private readonly Process _process;

        private ServerProcess(Process process, Uri address)
        {
            _process = process;
            Address = address;
        }

        public Uri Address { get; }

        public static async Task<ServerProcess> StartAsync(string model, int slots, CancellationToken cancellationToken)
        {
            string dll = Path.Combine(AppContext.BaseDirectory, "ServingApi.dll");
            Assert.IsTrue(File.Exists(dll), $"{dll} was not built next to the tests");
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList = { dll, "--ModelPath", model, "--urls", "http://127.0.0.1:0", "--MaxConcurrentPredictions", $"{slots}", "--Logging:LogLevel:Default", "Warning", "--Logging:LogLevel:Microsoft.Hosting.Lifetime", "Information" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var process = Process.Start(start)!;
            var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is { } line && ListeningLine().Match(line) is { Success: true } match)
                {
                    listening.TrySetResult(new Uri(match.Groups[1].Value));
                }
            };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                var address = await listening.Task.WaitAsync(TimeSpan.FromSeconds(90), cancellationToken);
                return new ServerProcess(process, address);
            }
            catch
            {
                process.Kill(entireProcessTree: true);
                process.Dispose();
                throw;
            }
        }

        /// <summary>A memory figure of the server from /proc/&lt;pid&gt;/status, in bytes.</summary>
        public long Memory(string field)
        {
            foreach (string line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith(field + ":", StringComparison.Ordinal))
                {
                    return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
                }
            }

            throw new InvalidOperationException($"no {field} in /proc/{_process.Id}/status");
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }

            _process.Dispose();
        }
    }
}
