using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML;
using MLNetCnn.Examples.ServingApi;

namespace MLNetCnn.ServingApi.Tests;

/// <summary>
/// Found by an outside sweep: the sample listened with a missing or unsuitable model and answered 500 to every
/// request, and it allocated each body's announced Content-Length before any limit applied, so slow uploads that
/// announced 8 MB each grew the server by 8 MB a connection.
/// </summary>
[TestClass]
public sealed class ServingStartupAndUploadTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void AMissingModelStopsTheStartNamingTheFile()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"mlnetcnn-no-model-{Environment.ProcessId}.zip");
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => ServingApp.Build(["--urls", "http://127.0.0.1:0"], missing));
        StringAssert.Contains(e.Message, missing);
    }

    [TestMethod]
    public void AModelOfAnotherInputColumnStopsTheStartNamingItsColumns()
    {
        // A model that scores a text column of another name (no network needed for the check). An 'ImagePath' column,
        // as mlnetcnn train on a folder saves, is served (PathModelServingTests).
        var e = StartWithOtherModel(withSchema: true);
        StringAssert.Contains(e.Message, "'Photo' (String)");
        StringAssert.Contains(e.Message, "'ImageBytes'");
        StringAssert.Contains(e.Message, "'ImagePath'");
    }

    [TestMethod]
    public void AModelSavedWithoutItsInputSchemaStopsTheStartSayingHowToSaveIt()
    {
        // Model.Save(model, null, path) is lawful ML.NET; the start then failed with a NullReferenceException.
        var e = StartWithOtherModel(withSchema: false);
        StringAssert.Contains(e.Message, "saved without its input schema");
        StringAssert.Contains(e.Message, "trainData.Schema");
    }

    /// <summary>Starts the service with a model of a 'Photo' text column, saved with or without its input schema, and returns why the start failed.</summary>
    private static InvalidDataException StartWithOtherModel(bool withSchema)
    {
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable([new PhotoRow { Photo = "a.png" }]);
        var model = ml.Transforms.Conversion.MapValueToKey("Key", nameof(PhotoRow.Photo)).Fit(data);
        string path = Path.Combine(Path.GetTempPath(), $"mlnetcnn-other-model-{Environment.ProcessId}.zip");
        ml.Model.Save(model, withSchema ? data.Schema : null, path);
        try
        {
            return Assert.ThrowsExactly<InvalidDataException>(() => ServingApp.Build(["--urls", "http://127.0.0.1:0"], path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public async Task SlowUploadsTakeTheMemoryOfWhatArrivedNotOfWhatTheyAnnounce()
    {
        var app = ServingApp.Build(["--urls", "http://127.0.0.1:0", "--MaxConcurrentPredictions", "1"], DemoModelFixture.ModelPath);
        await app.StartAsync(TestContext.CancellationToken);
        var sockets = new List<Socket>();
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
            long before = GC.GetTotalMemory(forceFullCollection: true);
            long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);

            // 40 connections each announce 8 MB and send 64 KB of it, then stall: 320 MB announced, 2.5 MB sent.
            var head = Encoding.ASCII.GetBytes($"POST /predict HTTP/1.1\r\nHost: {address.Authority}\r\nContent-Length: {ServingApp.MaxImageBytes}\r\n\r\n");
            var part = new byte[64 * 1024];
            for (int i = 0; i < 40; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, address.Port, TestContext.CancellationToken);
                await socket.SendAsync(head, TestContext.CancellationToken);
                await socket.SendAsync(part, TestContext.CancellationToken);
            }

            await Task.Delay(TimeSpan.FromSeconds(2), TestContext.CancellationToken);
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            long grown = GC.GetTotalMemory(forceFullCollection: true) - before;
            string figures = $"with 40 stalled uploads the process allocated {allocated / 1e6:F1} MB and the managed heap grew by {grown / 1e6:F1} MB";
            TestContext.WriteLine(figures);
            Assert.IsTrue(allocated < 64_000_000 && grown < 64_000_000, $"{figures}: bodies are allocated at their announced length (40 x 8 MB)");
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            await app.StopAsync(TestContext.CancellationToken);
            await app.DisposeAsync();
        }
    }

    [TestMethod]
    public async Task ConnectionsOverMaxConnectionsAreClosedAndServiceResumesWhenTheyGo()
    {
        var app = ServingApp.Build(["--urls", "http://127.0.0.1:0", "--MaxConnections", "3"], DemoModelFixture.ModelPath);
        await app.StartAsync(TestContext.CancellationToken);
        var sockets = new List<Socket>();
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
            var head = Encoding.ASCII.GetBytes($"POST /predict HTTP/1.1\r\nHost: {address.Authority}\r\n");
            for (int i = 0; i < 3; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, address.Port, TestContext.CancellationToken);
                await socket.SendAsync(head, TestContext.CancellationToken);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), TestContext.CancellationToken);
            using (var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(20) })
            {
                await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/health", TestContext.CancellationToken), "a fourth connection while three stall");
            }

            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            sockets.Clear();
            await Task.Delay(TimeSpan.FromMilliseconds(500), TestContext.CancellationToken);
            using var fresh = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(20) };
            var health = await fresh.GetAsync("/health", TestContext.CancellationToken);
            Assert.AreEqual(HttpStatusCode.OK, health.StatusCode, "the limit counts open connections only");
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            await app.StopAsync(TestContext.CancellationToken);
            await app.DisposeAsync();
        }
    }

    private sealed class PhotoRow
    {
        public string Photo { get; set; } = string.Empty;
    }
}
