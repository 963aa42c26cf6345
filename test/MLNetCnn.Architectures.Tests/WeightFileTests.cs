using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Weights;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Tests;

/// <summary>
/// Weights files: PyTorch writes a torchvision state_dict with torch.save (.pth) and as safetensors
/// (written by hand in the script: Debian has no safetensors package); both load into our model and
/// give torchvision's logits. Then the library's own safetensors round trip, the grey adaptation of
/// RGB weights, the classifier replacement and the head detection.
/// </summary>
[TestClass]
public sealed class WeightFileTests
{
    private const string Script = """
        import json, os, struct, sys, torch, torchvision
        out = sys.argv[1]
        torch.manual_seed(0)
        model = torchvision.models.resnet18(weights=None)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.normal_(0, 0.1); m.running_var.uniform_(0.5, 1.5); m.weight.uniform_(0.2, 0.6); m.bias.normal_(0, 0.1)
        model.eval()
        state = model.state_dict()
        torch.save(state, os.path.join(out, "resnet18.pth"))
        torch.save({"epoch": 3, "state_dict": state}, os.path.join(out, "nested.pt"))
        header, blobs, offset = {"__metadata__": {"source": "torchvision"}}, [], 0
        for k, v in state.items():
            b = v.detach().contiguous().numpy().tobytes()
            header[k] = {"dtype": {torch.float32: "F32", torch.int64: "I64"}[v.dtype], "shape": list(v.shape), "data_offsets": [offset, offset + len(b)]}
            blobs.append(b); offset += len(b)
        h = json.dumps(header).encode()
        with open(os.path.join(out, "resnet18.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(h))); f.write(h)
            for b in blobs: f.write(b)
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            y = model(x)
        x.numpy().tofile(os.path.join(out, "input.bin"))
        y.numpy().tofile(os.path.join(out, "logits.bin"))
        """;

    [TestMethod]
    public void TorchvisionPthAndSafetensorsFilesGiveTorchvisionLogits()
    {
        string python = PyTorchParityTests.FindPythonWithTorchvision();
        string dir = Directory.CreateTempSubdirectory("mlnetcnn-weights-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "reference.py"), Script);
            PyTorchParityTests.Run(python, $"\"{Path.Combine(dir, "reference.py")}\" \"{dir}\"");
            var input = PyTorchParityTests.ReadFloats(Path.Combine(dir, "input.bin"));
            var expected = PyTorchParityTests.ReadFloats(Path.Combine(dir, "logits.bin"));
            foreach (string file in new[] { "resnet18.pth", "nested.pt", "resnet18.safetensors" })
            {
                var (tensors, metadata) = PretrainedWeights.Read(Path.Combine(dir, file));
                using var model = ModelRegistry.Create("resnet18", new ArchitectureOptions { InputSize = 64 });
                var report = PretrainedWeights.Load(model, tensors);
                Assert.AreEqual(0, report.Skipped.Count + report.NotInFile.Count + report.Unused.Count, $"{file}: {report}");
                Assert.AreEqual(model.state_dict().Count, report.Loaded.Count, file);
                float diff = TestSupport.MaxAbsDiff(expected, TestSupport.TorchEval(model, input, batch: 2));
                Assert.IsTrue(diff <= 1e-4f, $"{file}: max |ours - torchvision| = {diff:G3}");
                if (file.EndsWith(".safetensors", StringComparison.Ordinal))
                {
                    Assert.AreEqual("torchvision", metadata["source"]);
                }

                foreach (var t in tensors.Values)
                {
                    t.Dispose();
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void SafetensorsRoundTripKeepsEveryTensorAndDtype()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mlnetcnn-{Guid.NewGuid():N}.safetensors");
        try
        {
            manual_seed(1);
            using var a = randn(3, 5);
            using var b = arange(7, dtype: ScalarType.Int64);
            using var c = randn(2, 2).to(ScalarType.BFloat16);
            SafeTensors.Write(path, new Dictionary<string, Tensor> { ["a"] = a, ["b.c"] = b, ["half"] = c }, new Dictionary<string, string> { ["arch"] = "resnet18" });
            var (tensors, metadata) = SafeTensors.Read(path);
            Assert.AreEqual("resnet18", metadata["arch"]);
            Assert.IsTrue(tensors["a"].eq(a).all().item<bool>());
            Assert.IsTrue(tensors["b.c"].eq(b).all().item<bool>());
            Assert.AreEqual(ScalarType.BFloat16, tensors["half"].dtype);
            Assert.IsTrue(tensors["half"].eq(c).all().item<bool>());

            File.WriteAllBytes(path, [1, 2, 3]);
            var error = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Read(path));
            StringAssert.Contains(error.Message, "not a safetensors file");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void ANewClassCountKeepsAFreshClassifierAndGreyModelsSumTheRgbStem()
    {
        manual_seed(2);
        using var source = ModelRegistry.Create("resnet18", new ArchitectureOptions { InputSize = 64 });
        var tensors = source.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        manual_seed(3);
        using var target = new NormalizedClassifier(
            ModelRegistry.Create("resnet18", new ArchitectureOptions { InputSize = 64, NumClasses = 7, InputChannels = 1 }),
            new InputNormalization(new[] { 0.5f }, new[] { 0.25f }));
        using var freshFc = target.Network.state_dict()["fc.weight"].clone();
        var report = PretrainedWeights.Load(target, tensors);

        CollectionAssert.AreEquivalent(new[] { "network.fc.weight", "network.fc.bias" }, report.Skipped.Select(s => s.Split(':')[0]).ToList());
        CollectionAssert.AreEqual(new[] { "network.conv1.weight" }, report.Adapted.ToList());
        Assert.IsTrue(target.Network.state_dict()["fc.weight"].eq(freshFc).all().item<bool>(), "the classifier keeps its fresh initialization");
        using var summed = tensors["conv1.weight"].sum(1, keepdim: true);
        Assert.IsTrue(target.Network.state_dict()["conv1.weight"].allclose(summed), "grey stem = sum of the RGB kernels");
        Assert.IsTrue(target.Network.state_dict()["layer4.1.bn2.running_var"].eq(tensors["layer4.1.bn2.running_var"]).all().item<bool>());

        CollectionAssert.AreEquivalent(new[] { "fc.weight", "fc.bias" }, target.Network.HeadParameterNames.ToList());
        CollectionAssert.AreEquivalent(new[] { "network.fc.weight", "network.fc.bias" }, target.HeadParameterNames.ToList());
        using var googlenet = ModelRegistry.Create("googlenet", new ArchitectureOptions { NumClasses = 5, InputSize = 96 });
        var inceptionHead = googlenet.HeadParameterNames;
        Assert.IsTrue(inceptionHead.Contains("fc.weight") && inceptionHead.Any(n => n.StartsWith("aux1.", StringComparison.Ordinal)), string.Join(", ", inceptionHead));
    }
}
