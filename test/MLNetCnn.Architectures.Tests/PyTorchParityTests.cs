using System.Diagnostics;
using MLNetCnn.Architectures.Models;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Tests;

/// <summary>
/// Interoperability with PyTorch: Debian's python3-torchvision (torch 1.13, torchvision 0.14) builds the
/// same architecture with seeded random weights and non-trivial BN statistics, writes every state_dict
/// tensor, an input and its eval logits; our model loads the tensors by state_dict key (so the names must
/// match exactly) and must give the same logits. Without python3-torchvision the test is inconclusive,
/// except under CI=true, where a missing peer fails.
/// </summary>
[TestClass]
public sealed class PyTorchParityTests
{
    private const string Script = """
        import os, sys, torch, torchvision
        name, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        torch.manual_seed(0)
        kwargs = dict(aux_logits=True, init_weights=True) if name in ("googlenet", "inception_v3") else {}
        model = getattr(torchvision.models, name)(weights=None, **kwargs)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.normal_(0, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.2, 0.6)
                    m.bias.normal_(0, 0.1)
        model.eval()
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            y = model(x)
        with open(os.path.join(out, "manifest.txt"), "w") as f:
            for k, v in model.state_dict().items():
                if k.endswith("num_batches_tracked"):
                    continue
                v.detach().float().contiguous().numpy().tofile(os.path.join(out, k + ".bin"))
                f.write(k + "\t" + ",".join(str(d) for d in v.shape) + "\n")
        x.numpy().tofile(os.path.join(out, "input.bin"))
        y.numpy().tofile(os.path.join(out, "logits.bin"))
        """;

    [TestMethod]
    [DataRow("resnet18", "resnet18", 64)]
    [DataRow("resnet50", "resnet50", 64)]
    [DataRow("squeezenet1_1", "squeezenet1_1", 64)]
    [DataRow("mobilenet_v2", "mobilenet_v2", 64)]
    [DataRow("shufflenet_v2_x1_0", "shufflenet_v2_x1_0", 64)]
    [DataRow("efficientnet_b0", "efficientnet_b0", 64)]
    [DataRow("googlenet", "googlenet", 64)]
    [DataRow("inception_v3", "inception_v3", 80)]
    [DataRow("vgg11_bn", "vgg11_bn", 32)]
    public void TorchvisionWeightsGiveTorchvisionLogits(string ours, string torchvision, int size)
    {
        string python = FindPythonWithTorchvision();
        string dir = Directory.CreateTempSubdirectory("mlnetcnn-parity-").FullName;
        try
        {
            string script = Path.Combine(dir, "reference.py");
            File.WriteAllText(script, Script);
            Run(python, $"\"{script}\" {torchvision} {size} \"{dir}\"");

            using var model = ModelRegistry.Create(ours, new ArchitectureOptions { InputSize = size });
            var state = model.state_dict();
            var manifest = File.ReadAllLines(Path.Combine(dir, "manifest.txt")).Select(l => l.Split('\t')).ToDictionary(p => p[0], p => p[1]);
            var ourKeys = state.Keys.Where(k => !k.EndsWith("num_batches_tracked", StringComparison.Ordinal)).ToHashSet();
            CollectionAssert.AreEquivalent(manifest.Keys.Order().ToList(), ourKeys.Order().ToList(), $"{ours}: state_dict keys differ from torchvision's {torchvision}");
            using (no_grad())
            {
                foreach (var (key, shape) in manifest)
                {
                    var target = state[key];
                    Assert.AreEqual(shape, string.Join(',', target.shape), $"{key} shape");
                    var values = ReadFloats(Path.Combine(dir, key + ".bin"));
                    using var source = tensor(values).reshape(target.shape);
                    target.copy_(source);
                }
            }

            var input = ReadFloats(Path.Combine(dir, "input.bin"));
            var expected = ReadFloats(Path.Combine(dir, "logits.bin"));
            var actual = TestSupport.TorchEval(model, input, batch: 2);
            float diff = TestSupport.MaxAbsDiff(expected, actual);
            Assert.IsTrue(diff <= 1e-4f, $"{ours}: max |ours - torchvision| = {diff:G3} on logits of magnitude {expected.Max(Math.Abs):G3}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    internal static float[] ReadFloats(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    /// <summary>Debian's interpreter first (a pyenv or venv python3 on PATH usually lacks the Debian packages).</summary>
    internal static string FindPythonWithTorchvision()
    {
        foreach (string candidate in new[] { "/usr/bin/python3", "python3" })
        {
            try
            {
                Run(candidate, "-c \"import torchvision\"");
                return candidate;
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                continue;
            }
        }

        const string message = "python3-torchvision is not installed (apt-get install python3-torchvision).";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message);
        }

        Assert.Inconclusive(message);
        return string.Empty;
    }

    internal static void Run(string fileName, string arguments)
    {
        var start = new ProcessStartInfo(fileName, arguments) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        string errors = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(300_000) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} {arguments} failed ({(process.HasExited ? process.ExitCode : -1)}): {errors}");
        }
    }
}
