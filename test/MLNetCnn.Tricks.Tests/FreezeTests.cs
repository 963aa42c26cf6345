using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Training;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Tests;

/// <summary>Frozen parameters (a pretrained backbone) stay bit-identical, with their batch-norm statistics, until released.</summary>
[TestClass]
public sealed class FreezeTests
{
    [TestMethod]
    [DataRow(TrainingPrecision.Float32)]
    [DataRow(TrainingPrecision.BFloat16)]
    public void FrozenParametersAndTheirStatisticsHoldForTheFrozenEpochsOnly(TrainingPrecision precision)
    {
        var train = Fixtures.Halves(96, seed: 4);
        using var model = Fixtures.TinyResNet(6);
        var names = model.named_parameters().Select(p => p.name).ToList();
        var frozen = names.Where(n => !n.StartsWith("fc.", StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
        var before = State(model);
        var options = new TrainerOptions { Epochs = 1, BatchSize = 16, LearningRate = 0.1, WeightDecay = 1e-3, FrozenParameters = frozen, FreezeEpochs = 1, Precision = precision };

        new ClassifierTrainer(options).Fit(model, train);
        var afterFrozen = State(model);
        foreach (var (key, value) in before)
        {
            bool head = key.StartsWith("fc.", StringComparison.Ordinal);
            bool same = value.SequenceEqual(afterFrozen[key]);
            if (key.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            {
                continue;
            }

            Assert.AreEqual(!head, same, head ? $"head {key} did not train" : $"frozen {key} changed");
        }

        // Released: a second run whose first epoch is frozen and second is not moves everything.
        new ClassifierTrainer(options with { Epochs = 2 }).Fit(model, train);
        var released = State(model);
        Assert.IsFalse(released["conv1.weight"].SequenceEqual(afterFrozen["conv1.weight"]), "the backbone trains once released");
        Assert.IsFalse(released["bn1.running_mean"].SequenceEqual(afterFrozen["bn1.running_mean"]), "batch-norm statistics update once released");
        Assert.IsTrue(model.parameters().All(p => p.requires_grad), "every parameter trainable again after Fit");
    }

    [TestMethod]
    public void FreezeEpochsWithoutNamesFreezesEverythingButTheModelsHead()
    {
        var train = Fixtures.Halves(64, seed: 5);
        using var model = Fixtures.TinyResNet(7);
        var before = State(model);
        new ClassifierTrainer(new TrainerOptions { Epochs = 1, BatchSize = 16, LearningRate = 0.1, FreezeEpochs = 1, Device = ComputeDevice.Cpu }).Fit(model, train);
        var after = State(model);
        CollectionAssert.AreEquivalent(new[] { "fc.weight", "fc.bias" }, model.HeadParameterNames.ToList());
        foreach (var (key, value) in before.Where(kv => !kv.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal)))
        {
            bool head = model.HeadParameterNames.Contains(key);
            Assert.AreEqual(!head, value.SequenceEqual(after[key]), head ? $"head {key} did not train" : $"backbone {key} changed");
        }

        var error = Assert.ThrowsExactly<ArgumentException>(() => new TrainerOptions { FreezeEpochs = 2, FrozenParameters = new HashSet<string>() }.Validate());
        StringAssert.Contains(error.Message, "FrozenParameters");
    }

    private static Dictionary<string, float[]> State(nn.Module model) =>
        model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32).data<float>().ToArray());
}
