using MLNetCnn.Architectures.Cost;
using MLNetCnn.Architectures.Families;
using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Onnx;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Tests;

/// <summary>
/// The model contract (features, head, reset of the classifier) and the typed configs: every registered model
/// describes its features and head, and resetting the classifier changes the head only.
/// </summary>
[TestClass]
public sealed class ModelContractTests
{
    public static IEnumerable<object[]> AllModels => RegistryContractTests.AllModels;

    public static IEnumerable<object[]> FamilyRepresentatives => RegistryContractTests.FamilyRepresentatives;

    [TestMethod]
    [DynamicData(nameof(AllModels))]
    public void TheEmbeddingGraphEndsInNumFeaturesAndTheHeadNamesExist(string name)
    {
        var definition = ModelRegistry.Get(name);
        using var model = TestSupport.Scaled(definition, TestSupport.QuickWidth(name)).Create(new ArchitectureOptions { InputSize = definition.MinInputSize, NumClasses = 7 });
        var s = model.InputShape;
        var embedding = new GraphBuilder(withWeights: false).RunEmbedding(model, new GraphValue("input", new long[] { s.Channels, s.Height, s.Width }));
        CollectionAssert.AreEqual(new long[] { model.NumFeatures }, embedding.Shape.ToArray(), $"{name}: embedding shape");
        var modules = model.named_modules().Select(m => m.name).ToHashSet(StringComparer.Ordinal);
        foreach (string head in model.HeadModuleNames)
        {
            Assert.IsTrue(modules.Contains(head), $"{name}: head module '{head}' is not a module of the model");
        }

        Assert.IsTrue(model.HeadParameterNames.Count > 0, $"{name}: the head has parameters");
    }

    [TestMethod]
    [DynamicData(nameof(FamilyRepresentatives))]
    public void ResettingTheClassifierChangesTheHeadOnlyAndStillExports(string name)
    {
        var definition = ModelRegistry.Get(name);
        manual_seed(3);
        using var model = TestSupport.Scaled(definition, TestSupport.QuickWidth(name)).Create(new ArchitectureOptions { InputSize = definition.MinInputSize, NumClasses = 7 });
        TestSupport.RandomizeBatchNorm(model, seed: 2);
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone(), StringComparer.Ordinal);
        var head = model.HeadParameterNames;
        const int batch = 2;
        var input = TestSupport.RandomInput(batch * model.InputShape.Size, seed: 4);
        var embeddingBefore = Embedding(model, input, batch);

        model.ResetClassifier(3);

        Assert.AreEqual(3, model.NumClasses);
        var after = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        CollectionAssert.AreEquivalent(before.Keys.ToList(), after.Keys.ToList(), $"{name}: the same parameter names");
        foreach (var (key, old) in before)
        {
            bool shapeChanged = !old.shape.SequenceEqual(after[key].shape);
            if (shapeChanged)
            {
                Assert.IsTrue(head.Contains(key), $"{name}: {key} depends on the class count but is not a head parameter");
            }
            else if (!head.Contains(key))
            {
                Assert.IsTrue(old.eq(after[key]).all().item<bool>(), $"{name}: backbone parameter {key} changed");
            }
        }

        CollectionAssert.AreEqual(embeddingBefore, Embedding(model, input, batch), $"{name}: the embedding is the backbone's, untouched by the reset");
        var logits = TestSupport.TorchEval(model, input, batch);
        Assert.AreEqual(batch * 3, logits.Length);
        CollectionAssert.AreEqual(new long[] { 3 }, ModelCost.Measure(model).OutputShape.ToArray());
        var onnx = TestSupport.OnnxRun(OnnxExporter.Export(model, new OnnxExportOptions { Output = OnnxOutput.Logits }), input, batch, model.InputShape.Size);
        Assert.IsTrue(TestSupport.MaxAbsDiff(logits, onnx) <= 1e-4f, $"{name}: ONNX after the reset");
        foreach (var t in before.Values)
        {
            t.Dispose();
        }
    }

    [TestMethod]
    [DynamicData(nameof(FamilyRepresentatives))]
    public void TheExportedEmbeddingMatchesTorchSharp(string name)
    {
        var definition = ModelRegistry.Get(name);
        using var model = TestSupport.Scaled(definition, TestSupport.QuickWidth(name)).Create(new ArchitectureOptions { InputSize = definition.MinInputSize, NumClasses = 5 });
        TestSupport.RandomizeBatchNorm(model, seed: 9);
        const int batch = 2;
        var input = TestSupport.RandomInput(batch * model.InputShape.Size, seed: 6);
        var expected = Embedding(model, input, batch);
        var onnx = OnnxExporter.Export(model, new OnnxExportOptions { Output = OnnxOutput.Embedding, OutputName = "Embedding" });
        var actual = TestSupport.OnnxRun(onnx, input, batch, model.InputShape.Size, outputName: "Embedding");
        Assert.AreEqual(batch * model.NumFeatures, actual.Length);
        Assert.IsTrue(TestSupport.MaxAbsDiff(expected, actual) <= 1e-4f, $"{name}: max |ONNX - TorchSharp| on the embedding = {TestSupport.MaxAbsDiff(expected, actual):G3}");
    }

    [TestMethod]
    public void PublishedRowsAreStaticMembersAndVariantsAreWithExpressions()
    {
        Assert.AreEqual("resnet50d", (ResNetConfig.ResNet50 with { Variant = ResNetVariant.D }).Name);
        Assert.AreEqual("resnetv2_50", (ResNetConfig.ResNet50 with { Unit = ResNetUnit.PreActivation }).Name);
        Assert.AreEqual("vgg16_bn", VggConfig.ForDepth(16, batchNorm: true).Name);
        Assert.AreEqual("mobilenet_v1_0.5_160", MobileNetV1Config.For(0.5, 160).Name);
        Assert.AreEqual("efficientnet_b0", EfficientNetConfig.ForPhi(0).Name, "phi 0 is B0 by the compound rule");
        Assert.AreEqual("resnet18", (ResNetConfig.ResNet18 with { Width = 0.25 }).Name, "another width keeps the row's name");
        Assert.AreEqual(ModelCost.Measure(ModelRegistry.Create("resnet50d", new ArchitectureOptions { InputSize = 64 })).Parameters,
            ModelCost.Measure((ResNetConfig.ResNet50 with { Variant = ResNetVariant.D }).Create(new ArchitectureOptions { InputSize = 64 })).Parameters);
    }

    [TestMethod]
    public void AnyPhiBuildsWithoutRegisteringAName()
    {
        var names = ModelRegistry.Names.Count;
        var config = EfficientNetConfig.ForPhi(2.5);
        using var model = (config with { Width = 0.25 }).Create(new ArchitectureOptions { InputSize = 32, NumClasses = 4 });
        Assert.AreEqual(names, ModelRegistry.Names.Count, "nothing was registered");
        Assert.IsNull(ModelRegistry.NameOf(config));
        Assert.AreEqual("efficientnet", config.Name);
        Assert.AreEqual(config.Resolution, config.NativeInputSize);
        Assert.AreEqual(Math.Pow(1.2, 2.5), config.Depth, 1e-12);
        Assert.AreEqual(Math.Pow(1.1, 2.5), config.Width, 1e-12);
        Assert.AreEqual(316, config.Resolution, "224 x 1.15^2.5 = 317.6, rounded to a multiple of 4");
        Assert.AreEqual(8, TestSupport.TorchEval(model, TestSupport.RandomInput(2 * 3 * 32 * 32, seed: 1), batch: 2).Length);
    }

    [TestMethod]
    public void WidthReplacesAFamilysOwnAlphaInsteadOfMultiplyingIt()
    {
        // mobilenet_v1_0.5_224 at Width 0.25 is alpha 0.25 (the registered mobilenet_v1_0.25_224), not 0.125.
        using var replaced = (MobileNetV1Config.For(0.5) with { Width = 0.25 }).Create();
        using var registered = ModelRegistry.Create("mobilenet_v1_0.25_224");
        Assert.AreEqual(ModelCost.Measure(registered).Parameters, ModelCost.Measure(replaced).Parameters);
        using var half = ModelRegistry.Create("mobilenet_v2_050");
        using var quarter = (ModelRegistry.Get("mobilenet_v2_050").Config with { Width = 0.25 }).Create();
        Assert.IsTrue(ModelCost.Measure(quarter).Parameters < ModelCost.Measure(half).Parameters);
        Assert.AreEqual(0.25, ((MobileNetV2Config)ModelRegistry.Get("mobilenet_v2_050").Config with { Width = 0.25 }).Width);
    }

    private static float[] Embedding(ImageClassifier model, float[] input, int batch)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        var s = model.InputShape;
        return model.ForwardEmbedding(tensor(input, new long[] { batch, s.Channels, s.Height, s.Width })).contiguous().data<float>().ToArray();
    }
}
