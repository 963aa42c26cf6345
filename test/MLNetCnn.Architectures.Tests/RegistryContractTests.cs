using MLNetCnn.Architectures.Cost;
using MLNetCnn.Architectures.Families;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Tests;

/// <summary>Contracts every registered model meets; registering a model brings it under these tests.</summary>
[TestClass]
public sealed class RegistryContractTests
{
    public static IEnumerable<object[]> Referenced => ModelRegistry.All.Where(d => d.Reference is not null).Select(d => new object[] { d.Name });

    public static IEnumerable<object[]> AllModels => ModelRegistry.All.Select(d => new object[] { d.Name });

    /// <summary>One model per family, the cheapest by reference MACs: checked at the native resolution.</summary>
    public static IEnumerable<object[]> FamilyRepresentatives => ModelRegistry.All
        .GroupBy(d => d.Family)
        .Select(g => g.OrderBy(d => d.Reference?.GigaMacs ?? double.MaxValue).ThenBy(d => d.Name, StringComparer.Ordinal).First())
        .Select(d => new object[] { d.Name });

    [TestMethod]
    [DynamicData(nameof(Referenced))]
    public void ParamsAndMacsMatchThePublishedFigures(string name)
    {
        var definition = ModelRegistry.Get(name);
        var reference = definition.Reference!;
        using var model = definition.Create();
        var cost = ModelCost.Measure(model);

        if (reference.Tolerance == 0)
        {
            Assert.AreEqual(reference.Parameters, cost.Parameters, $"{name} params ({reference.Source})");
        }
        else
        {
            Assert.AreEqual(reference.Parameters, cost.Parameters, reference.Parameters * reference.Tolerance, $"{name} params ({reference.Source})");
        }

        double gmacs = cost.Macs / 1e9;
        double macTolerance = Math.Max(0.005, reference.Tolerance);
        Assert.AreEqual(reference.GigaMacs, gmacs, reference.GigaMacs * macTolerance, $"{name} GMACs ({reference.Source})");
        CollectionAssert.AreEqual(new long[] { 1000 }, cost.OutputShape.ToArray());
    }

    [TestMethod]
    [DynamicData(nameof(AllModels))]
    public void CostRowsCoverEveryParameterOfTheEvalGraph(string name)
    {
        var definition = ModelRegistry.Get(name);
        using var model = TestSupport.Scaled(definition, TestSupport.QuickWidth(name)).Create(new ArchitectureOptions { InputSize = Math.Max(64, definition.MinInputSize), NumClasses = 7 });
        var cost = ModelCost.Measure(model);
        long auxiliary = TestSupport.AuxiliaryParameters(model);
        Assert.AreEqual(cost.Parameters - auxiliary, cost.Layers.Sum(l => l.Parameters), "every parameter outside the auxiliary heads belongs to exactly one costed layer");
        CollectionAssert.AreEqual(new long[] { 7 }, cost.OutputShape.ToArray());
    }

    [TestMethod]
    [DynamicData(nameof(AllModels))]
    public void OnnxRuntimeMatchesTorchSharpEvalOnLogits(string name)
    {
        // The smallest input the published stem takes keeps the whole registry fast (same graph, smaller maps);
        // the native resolution is checked once per family below.
        var definition = ModelRegistry.Get(name);
        AssertOnnxParity(definition, definition.MinInputSize, TestSupport.QuickWidth(name));
    }

    [TestMethod]
    [DynamicData(nameof(FamilyRepresentatives))]
    public void OnnxRuntimeMatchesTorchSharpAtTheNativeResolution(string name)
    {
        var definition = ModelRegistry.Get(name);
        AssertOnnxParity(definition, definition.NativeInputSize, widthMultiplier: 1.0);
    }

    [TestMethod]
    [DynamicData(nameof(AllModels))]
    public void TrainModeForwardBackwardGivesEveryParameterAGradient(string name)
    {
        using var model = TestSupport.Scaled(ModelRegistry.Get(name), TestSupport.TrainWidth(name)).Create(new ArchitectureOptions { InputSize = 32, NumClasses = 10, SmallInputStem = true });
        model.train();
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(5);
        var input = randn(new long[] { 2, 3, 32, 32 }, generator: generator);
        var target = tensor(new long[] { 1, 7 });
        IReadOnlyList<WeightedLogits> heads = model is IAuxiliaryHeads aux
            ? aux.ForwardWithAuxiliary(input)
            : new[] { new WeightedLogits(model.forward(input), 1.0) };
        if (model is IAuxiliaryHeads withAux)
        {
            Assert.AreEqual(1 + withAux.AuxiliaryHeadNames.Count, heads.Count, "every auxiliary head contributes to the training loss");
        }

        var loss = heads.Select(h => nn.functional.cross_entropy(h.Logits, target) * h.LossWeight).Aggregate((a, b) => a + b);
        loss.backward();
        foreach (var (parameterName, parameter) in model.named_parameters())
        {
            var grad = parameter.grad;
            Assert.IsNotNull(grad, $"{name}: {parameterName} has no gradient");
            Assert.AreEqual(parameter.numel(), grad.numel(), $"{name}: {parameterName} gradient size");
            Assert.IsTrue(grad.isfinite().all().item<bool>(), $"{name}: {parameterName} gradient has NaN or infinity");
        }
    }

    [TestMethod]
    [DynamicData(nameof(AllModels))]
    public void EveryLayerRunsForwardAndBackwardInBFloat16(string name)
    {
        // Mixed-precision training hands every layer bfloat16 activations, and precision Auto takes bfloat16 on every CPU
        // with native support; a layer whose libtorch op has no bfloat16 kernel stops training there (vgg11_lrn: the
        // local response norm's average pool, found only when a host with native bfloat16 ran the suite).
        using var model = TestSupport.Scaled(ModelRegistry.Get(name), TestSupport.TrainWidth(name)).Create(new ArchitectureOptions { InputSize = 32, NumClasses = 10, SmallInputStem = true });
        model.to(ScalarType.BFloat16);
        model.train();
        using var scope = NewDisposeScope();
        var input = randn(new long[] { 2, 3, 32, 32 }, generator: new TorchSharp.torch.Generator(5)).to(ScalarType.BFloat16);
        IReadOnlyList<WeightedLogits> heads = model is IAuxiliaryHeads aux ? aux.ForwardWithAuxiliary(input) : [new WeightedLogits(model.forward(input), 1.0)];
        Assert.IsTrue(heads.All(h => h.Logits.dtype == ScalarType.BFloat16), $"{name}: the logits left bfloat16");
        heads.Select(h => nn.functional.cross_entropy(h.Logits.to(ScalarType.Float32), tensor(new long[] { 1, 7 }))).Aggregate((a, b) => a + b).backward();
        var missing = model.named_parameters().Where(p => p.parameter.grad is null).Select(p => p.name).ToList();
        Assert.IsEmpty(missing, $"{name}: no bfloat16 gradient for {string.Join(", ", missing)}");
    }

    [TestMethod]
    [DynamicData(nameof(AllModels))]
    public void NoStridedOneByOneConvolutionRunsAsSuch(string name)
    {
        // oneDNN's strided 1x1 kernels crash on some hosts (the AVX-512 backward-weights kernel corrupts the heap on the Zen 5
        // VM, the AVX2 backward-data set-up divides by zero where the CPU hides its caches), so the kernel probe lets them fail
        // without rejecting an instruction set (docs/kernels.md). That holds only while no model runs one: a strided 1x1
        // Conv2d must go through StridedPointwise (stride 1 on the subsampled input), never through its own forward.
        using var model = TestSupport.Scaled(ModelRegistry.Get(name), TestSupport.TrainWidth(name)).Create(new ArchitectureOptions { InputSize = 32, NumClasses = 10, SmallInputStem = true });
        model.train();
        var strided = model.named_modules()
            .Where(m => m.module is TorchSharp.Modules.Conv2d conv && conv.kernel_size.All(k => k == 1) && conv.stride.Any(s => s > 1))
            .ToList();
        var ran = new List<string>();
        var handles = strided.Select(m => ((TorchSharp.Modules.Conv2d)m.module).register_forward_pre_hook((_, input) => { ran.Add(m.name); return input; })).ToList();
        using (var scope = NewDisposeScope())
        {
            var input = randn(new long[] { 2, 3, 32, 32 }, generator: new TorchSharp.torch.Generator(5));
            _ = model is IAuxiliaryHeads aux ? aux.ForwardWithAuxiliary(input)[0].Logits : model.forward(input);
        }

        handles.ForEach(h => h.remove());
        Assert.IsEmpty(ran, $"{name}: strided 1x1 convolutions ran through their own forward ({string.Join(", ", ran)}), which hands oneDNN the strided kernel");
    }

    [TestMethod]
    [DynamicData(nameof(AllModels))]
    public void GreyTwentyEightByTwentyEightTenClassesRuns(string name)
    {
        using var model = TestSupport.Scaled(ModelRegistry.Get(name), TestSupport.QuickWidth(name)).Create(new ArchitectureOptions { InputSize = 28, InputChannels = 1, NumClasses = 10, SmallInputStem = true });
        var logits = TestSupport.TorchEval(model, TestSupport.RandomInput(2 * 784, seed: 3), batch: 2);
        Assert.AreEqual(20, logits.Length);
        Assert.IsTrue(logits.All(float.IsFinite), $"{name}: non-finite logits");
        CollectionAssert.AreEqual(new long[] { 10 }, ModelCost.Measure(model).OutputShape.ToArray());
    }

    [TestMethod]
    [DynamicData(nameof(AllModels))]
    public void AuxiliaryHeadsAreAbsentFromTheExportedGraph(string name)
    {
        var definition = ModelRegistry.Get(name);
        using var model = TestSupport.Scaled(definition, TestSupport.QuickWidth(name)).Create(new ArchitectureOptions { InputSize = definition.MinInputSize, NumClasses = 10 });
        var initializers = OnnxExporter.Build(model).Initializers.Select(t => t.Name).ToHashSet();
        var missing = model.named_parameters().Select(p => p.name).Where(k => !initializers.Contains(k)).ToList();
        var heads = model is IAuxiliaryHeads aux ? aux.AuxiliaryHeadNames : Array.Empty<string>();
        CollectionAssert.AreEqual(
            model.named_parameters().Select(p => p.name).Where(k => heads.Any(h => k.StartsWith(h + ".", StringComparison.Ordinal))).ToList(),
            missing,
            "exactly the auxiliary heads' parameters are left out of the export");
    }

    private static void AssertOnnxParity(ModelDefinition definition, int size, double widthMultiplier)
    {
        string name = definition.Name;
        using var model = TestSupport.Scaled(definition, widthMultiplier).Create(new ArchitectureOptions { InputSize = size });
        TestSupport.RandomizeBatchNorm(model, seed: 7);
        const int batch = 2;
        var input = TestSupport.RandomInput(batch * model.InputShape.Size, seed: 11);

        var expected = TestSupport.TorchEval(model, input, batch);
        var onnx = OnnxExporter.Export(model, new OnnxExportOptions { Output = OnnxOutput.Logits });
        var actual = TestSupport.OnnxRun(onnx, input, batch, model.InputShape.Size);

        float diff = TestSupport.MaxAbsDiff(expected, actual);
        Assert.IsTrue(diff <= 1e-4f, $"{name}: max |ONNX - TorchSharp| = {diff:G3} on logits of magnitude {expected.Max(Math.Abs):G3}");
    }

    [TestMethod]
    public void ExportedScoreIsSoftmaxOfTheLogitsWithDynamicBatch()
    {
        using var model = (ResNetConfig.ResNet18 with { Width = 0.25 }).Create(new ArchitectureOptions { InputSize = 28, InputChannels = 1, NumClasses = 10, SmallInputStem = true });
        TestSupport.RandomizeBatchNorm(model, seed: 3);
        var onnx = OnnxExporter.Export(model);
        foreach (int batch in new[] { 1, 5 })
        {
            var input = TestSupport.RandomInput(batch * 784, seed: batch);
            var logits = TestSupport.TorchEval(model, input, batch);
            var probabilities = TestSupport.OnnxRun(onnx, input, batch, 784);
            using var expected = softmax(tensor(logits).reshape(batch, 10), 1);
            Assert.IsTrue(TestSupport.MaxAbsDiff(expected.data<float>().ToArray(), probabilities) <= 1e-5f);
            for (int i = 0; i < batch; i++)
            {
                Assert.AreEqual(1.0, probabilities.Skip(i * 10).Take(10).Sum(), 1e-5);
            }
        }
    }

    [TestMethod]
    public void TestTimeFlipScoresTheMeanOfTheImageAndItsMirror()
    {
        using var model = (ResNetConfig.ResNet18 with { Width = 0.25 }).Create(new ArchitectureOptions { InputSize = 28, InputChannels = 1, NumClasses = 10, SmallInputStem = true });
        TestSupport.RandomizeBatchNorm(model, seed: 4);
        using (no_grad())
        {
            manual_seed(4);
            foreach (var parameter in model.parameters())
            {
                parameter.add_(randn_like(parameter).mul_(0.2)); // a head and filters far from symmetric, so the mirror matters
            }
        }

        var flipped = OnnxExporter.Export(model, new OnnxExportOptions { TestTimeFlip = true });
        var flippedLogits = OnnxExporter.Export(model, new OnnxExportOptions { TestTimeFlip = true, Output = OnnxOutput.Logits });
        var plain = OnnxExporter.Export(model);
        foreach (int batch in new[] { 1, 3 })
        {
            var input = TestSupport.RandomInput(batch * 784, seed: 10 + batch);
            using var images = tensor(input).reshape(batch, 1, 28, 28);
            var mirror = images.flip(3).contiguous().data<float>().ToArray();
            using var logits = tensor(TestSupport.TorchEval(model, input, batch)).reshape(batch, 10);
            using var mirrorLogits = tensor(TestSupport.TorchEval(model, mirror, batch)).reshape(batch, 10);
            using var expected = (softmax(logits, 1) + softmax(mirrorLogits, 1)) / 2;
            using var expectedLogits = (logits + mirrorLogits) / 2;
            var actual = TestSupport.OnnxRun(flipped, input, batch, 784);
            float probabilityDiff = TestSupport.MaxAbsDiff(expected.data<float>().ToArray(), actual);
            Assert.IsTrue(probabilityDiff <= 1e-5f, $"probabilities: mean of both, off by {probabilityDiff:G3}");
            var expectedMeans = expectedLogits.data<float>().ToArray();
            float logitDiff = TestSupport.MaxAbsDiff(expectedMeans, TestSupport.OnnxRun(flippedLogits, input, batch, 784));
            Assert.IsTrue(logitDiff <= 1e-5f * Math.Max(1, expectedMeans.Max(Math.Abs)), $"logits: mean of both, off by {logitDiff:G3} at magnitude {expectedMeans.Max(Math.Abs):G3}");
            Assert.IsTrue(TestSupport.MaxAbsDiff(logits.data<float>().ToArray(), mirrorLogits.data<float>().ToArray()) > 1e-3f, "the mirror changes the logits, so the test can tell them apart");
            Assert.IsTrue(TestSupport.MaxAbsDiff(TestSupport.OnnxRun(plain, input, batch, 784), actual) > 0, "the flipped graph is not the plain one");
        }

        Assert.ThrowsExactly<ArgumentException>(() => OnnxExporter.Export(model, new OnnxExportOptions { TestTimeFlip = true, Output = OnnxOutput.Embedding }));
    }

    [TestMethod]
    public void DuplicateNamesThrowAndTyposSuggestTheNearestName()
    {
        var existing = ModelRegistry.Get("resnet18");
        Assert.ThrowsExactly<InvalidOperationException>(() => ModelRegistry.Register(existing));
        var e = Assert.ThrowsExactly<KeyNotFoundException>(() => ModelRegistry.Get("resnt50"));
        StringAssert.Contains(e.Message, "resnet50");
    }

    [TestMethod]
    public void SmallInputStemKeepsFourByFourAtTheLastStage()
    {
        using var model = ModelRegistry.Create("resnet18", new ArchitectureOptions { InputSize = 28, InputChannels = 1, NumClasses = 10, SmallInputStem = true });
        var cost = ModelCost.Measure(model);
        var lastConv = cost.Layers.Last(l => l.Kind == "Conv2d");
        CollectionAssert.AreEqual(new long[] { 512, 4, 4 }, lastConv.OutputShape.ToArray());

        using var standard = ModelRegistry.Create("resnet18", new ArchitectureOptions { InputSize = 28, InputChannels = 1, NumClasses = 10 });
        var standardLast = ModelCost.Measure(standard).Layers.Last(l => l.Kind == "Conv2d");
        CollectionAssert.AreEqual(new long[] { 512, 1, 1 }, standardLast.OutputShape.ToArray(), "the published stem shrinks 28x28 to 1x1 at the last stage");
    }

    [TestMethod]
    public void GraphNamesFollowTorchvisionStateDictKeys()
    {
        using var model = ModelRegistry.Create("resnet50", new ArchitectureOptions { InputSize = 64 });
        var keys = model.state_dict().Keys.ToHashSet();
        foreach (string key in new[] { "conv1.weight", "bn1.running_mean", "layer2.0.downsample.1.running_var", "layer4.2.conv3.weight", "fc.bias" })
        {
            Assert.IsTrue(keys.Contains(key), $"state_dict lacks {key}");
        }

        var initializers = OnnxExporter.Build(model).Initializers.Select(t => t.Name).ToHashSet();
        foreach (string key in keys.Where(k => !k.EndsWith("num_batches_tracked", StringComparison.Ordinal)))
        {
            Assert.IsTrue(initializers.Contains(key), $"ONNX initializers lack {key}");
        }
    }
}
