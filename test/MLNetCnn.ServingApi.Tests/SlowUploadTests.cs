using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using MLNetCnn.Examples.ServingApi;

namespace MLNetCnn.ServingApi.Tests;

/// <summary>
/// Found by an outside sweep: clients that announce 8 MB and send 300 B/s (above Kestrel's minimum of 240 B/s) held
/// every upload slot for hours, and every normal /predict hung while /health answered 200. A body now holds its slot
/// for at most UploadTimeoutSeconds (then 408), and a request waits at most UploadQueueTimeoutSeconds for one (then 503).
/// </summary>
[TestClass]
public sealed class SlowUploadTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task ASlowUploadLosesItsSlotAtTheUploadTimeoutAndANormalPostIsServed()
    {
        await using var app = await StartAsync("--MaxConcurrentUploads", "1", "--UploadTimeoutSeconds", "2");
        var address = Address(app);
        using var slow = await SlowUploadAsync(address);
        await Task.Delay(TimeSpan.FromMilliseconds(500), TestContext.CancellationToken);

        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(15) };
        var clock = Stopwatch.StartNew();
        using var response = await client.PostAsync("/predict", new ByteArrayContent(DemoModelFixture.Samples[0].Png), TestContext.CancellationToken);
        TestContext.WriteLine($"the normal POST was answered after {clock.Elapsed.TotalSeconds:F1} s");
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.CancellationToken));
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(8), $"answered after {clock.Elapsed.TotalSeconds:F1} s with a 2 s upload timeout");

        string answer = await slow.ResponseAsync(TestContext.CancellationToken);
        StringAssert.StartsWith(answer, "HTTP/1.1 408", answer);
        StringAssert.Contains(answer, "UploadTimeoutSeconds");
        Assert.IsFalse(answer.Contains("(the connection stayed open)", StringComparison.Ordinal), $"the server closes the connection (Kestrel drains the rest for at most 5 s) instead of reading it at 300 B/s: {answer}");
    }

    [TestMethod]
    public async Task ARequestThatFindsNoUploadSlotInTimeGets503WithRetryAfter()
    {
        await using var app = await StartAsync("--MaxConcurrentUploads", "1", "--UploadTimeoutSeconds", "20", "--UploadQueueTimeoutSeconds", "0.5");
        var address = Address(app);
        using var slow = await SlowUploadAsync(address);
        await Task.Delay(TimeSpan.FromMilliseconds(500), TestContext.CancellationToken);

        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(15) };
        using var response = await client.PostAsync("/predict", new ByteArrayContent(DemoModelFixture.Samples[0].Png), TestContext.CancellationToken);
        string body = await response.Content.ReadAsStringAsync(TestContext.CancellationToken);
        Assert.AreEqual(HttpStatusCode.ServiceUnavailable, response.StatusCode, body);
        StringAssert.Contains(body, "UploadQueueTimeoutSeconds");
        Assert.AreEqual(TimeSpan.FromSeconds(20), response.Headers.RetryAfter?.Delta, "retry once the slot's upload timeout has passed");
    }

    [TestMethod]
    public async Task AConnectionThatNeverFinishesItsHeadersIsClosedAtTheHeadersTimeoutWhileANormalPostIsServed()
    {
        // Found by an outside sweep: 256 sockets that send half their headers (MaxConnections) kept every other client
        // out for 35-40 s, Kestrel's 30 s RequestHeadersTimeout; the service now sets it (RequestHeadersTimeoutSeconds).
        await using var app = await StartAsync("--RequestHeadersTimeoutSeconds", "1");
        var address = Address(app);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var halfSent = new SlowUpload(socket, sending: false);
        await socket.ConnectAsync(IPAddress.Loopback, address.Port, TestContext.CancellationToken);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /predict HTTP/1.1\r\nHost: {address.Authority}\r\n"), TestContext.CancellationToken);
        var clock = Stopwatch.StartNew();

        using (var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(15) })
        using (var response = await client.PostAsync("/predict", new ByteArrayContent(DemoModelFixture.Samples[0].Png), TestContext.CancellationToken))
        {
            Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.CancellationToken));
        }

        string answer = await halfSent.ResponseAsync(TestContext.CancellationToken);
        TestContext.WriteLine($"the half-sent request was closed after {clock.Elapsed.TotalSeconds:F1} s: {answer}");
        Assert.IsFalse(answer.Contains("(the connection stayed open)", StringComparison.Ordinal), answer);
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(6), $"closed after {clock.Elapsed.TotalSeconds:F1} s with a 1 s headers timeout (Kestrel checks once a second)");
    }

    private async Task<AsyncDisposableApp> StartAsync(params string[] settings)
    {
        var app = ServingApp.Build(["--urls", "http://127.0.0.1:0", .. settings], DemoModelFixture.ModelPath);
        await app.StartAsync(TestContext.CancellationToken);
        return new AsyncDisposableApp(app);
    }

    private static Uri Address(AsyncDisposableApp app) =>
        new(app.App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());

    /// <summary>A POST that announces 8,000,000 bytes and sends 30 every 100 ms (300 B/s, above Kestrel's minimum rate) until disposed.</summary>
    private async Task<SlowUpload> SlowUploadAsync(Uri address)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, address.Port, TestContext.CancellationToken);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /predict HTTP/1.1\r\nHost: {address.Authority}\r\nContent-Length: 8000000\r\n\r\n"), TestContext.CancellationToken);
        return new SlowUpload(socket);
    }

    private sealed class SlowUpload : IDisposable
    {
        private readonly Socket _socket;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _sending;

        /// <param name="sending">False: send nothing more, only read the answer.</param>
        public SlowUpload(Socket socket, bool sending = true)
        {
            _socket = socket;
            _sending = !sending ? Task.CompletedTask : Task.Run(async () =>
            {
                var part = new byte[30];
                while (!_stop.IsCancellationRequested)
                {
                    await _socket.SendAsync(part, _stop.Token);
                    await Task.Delay(100, _stop.Token);
                }
            });
        }

        /// <summary>What the server answered until it closed the connection (the whole answer after at most 15 s otherwise).</summary>
        public async Task<string> ResponseAsync(CancellationToken cancellationToken)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(TimeSpan.FromSeconds(15));
            var answer = new StringBuilder();
            var buffer = new byte[4096];
            try
            {
                int read;
                while ((read = await _socket.ReceiveAsync(buffer, wait.Token)) > 0)
                {
                    answer.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                answer.Append("\n(the connection stayed open)");
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                // Closed while this client still sent: the server's kernel answers the unread bytes with a reset.
            }

            return answer.ToString();
        }

        public void Dispose()
        {
            _stop.Cancel();
            try
            {
                _sending.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
                // Cancelled, or the server closed the connection: either ends the upload.
            }

            _socket.Dispose();
            _stop.Dispose();
        }
    }

    private sealed class AsyncDisposableApp(WebApplication app) : IAsyncDisposable
    {
        public WebApplication App { get; } = app;

        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }
}
