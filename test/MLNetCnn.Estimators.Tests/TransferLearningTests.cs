using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Weights;

namespace MLNetCnn.Estimators.Tests;

/// <summary>Continued training from saved weights, and fine-tuning a pretrained backbone for a new class count.</summary>
[TestClass]
public sealed class TransferLearningTests
{
    private static readonly string Folder = Directory.CreateTempSubdirectory("mlnetcnn-transfer-").FullName;

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(Folder, recursive: true);

    [TestMethod]
    public void ContinuedTrainingStartsFromTheSavedModel()
    {
        var ml = new MLContext(seed: 1);
        var all = TestData.FashionSubset(ml, 1500, seed: 11);
        var first = ml.Data.TakeRows(all, 600);
        var more = ml.Data.SkipRows(ml.Data.TakeRows(all, 1200), 600);
        var test = ml.Data.SkipRows(all, 1200);
        using var original = ml.Cnn().ImageClassification(ImageClassificationTrainerTests.SmallOptions(epochs: 2)).Fit(first);
        string weights = Path.Combine(Folder, "continued.safetensors");
        original.SaveWeights(weights);
        var (tensors, metadata) = SafeTensors.Read(weights);
        Assert.AreEqual("resnet18", metadata[WeightsMetadata.Architecture]);
        Assert.IsTrue(tensors.ContainsKey("network.fc.weight"));

        // With the backbone frozen and a vanishing learning rate, one epoch on other data must leave
        // the model's predictions where they were: the weights, and the input normalization saved with
        // them (the new data's statistics differ), were restored.
        var resume = ImageClassificationTrainerTests.SmallOptions();
        resume.InitialWeights = weights;
        resume.Training = resume.Training with { FreezeEpochs = 1 };
        resume.LearningRate = 1e-9;
        using var restored = ml.Cnn().ImageClassification(resume).Fit(more);
        var expected = original.Transform(test).GetColumn<float[]>("Score").ToList();
        var actual = restored.Transform(test).GetColumn<float[]>("Score").ToList();
        float worst = expected.Zip(actual).Max(p => p.First.Zip(p.Second).Max(v => Math.Abs(v.First - v.Second)));
        Assert.IsTrue(worst < 1e-4, $"restored model's scores differ by up to {worst}");

        // Continued training proper: more data, normal learning rate, accuracy at least holds.
        var more2 = ImageClassificationTrainerTests.SmallOptions(epochs: 2);
        more2.InitialWeights = weights;
        using var continued = ml.Cnn().ImageClassification(more2).Fit(more);
        double before = ml.MulticlassClassification.Evaluate(original.Transform(test)).MicroAccuracy;
        double after = ml.MulticlassClassification.Evaluate(continued.Transform(test)).MicroAccuracy;
        Assert.IsTrue(after > before - 0.03, $"accuracy {before:F3} before, {after:F3} after continued training on 600 more images");
    }

    [TestMethod]
    public void FineTuningReplacesTheClassifierForANewClassCount()
    {
        // "Pretrained": a model of the first five Fashion-MNIST classes. Fine-tuned to all ten with the
        // backbone frozen for the first epoch: the classifier starts fresh, the rest from the file.
        var ml = new MLContext(seed: 2);
        var log = new List<string>();
        ml.Log += (_, e) =>
        {
            if (e.Source.StartsWith(nameof(ImageClassificationTrainer), StringComparison.Ordinal))
            {
                lock (log)
                {
                    log.Add(e.RawMessage);
                }
            }
        };
        var all = TestData.FashionSubset(ml, 1600, seed: 12);
        var rows = ml.Data.CreateEnumerable<TestData.Row>(all, reuseRowObject: false).ToList();
        var fiveClasses = TestData.Build(ml, rows.Where(r => r.Label <= 5).Select(r => new TestData.FloatRow { Label = Data.FashionMnist.ClassNames[(int)r.Label - 1], Features = r.Features }), 784, Data.FashionMnist.ClassNames.Take(5).ToList());
        using var pretrained = ml.Cnn().ImageClassification(ImageClassificationTrainerTests.SmallOptions(epochs: 2)).Fit(fiveClasses);
        string weights = Path.Combine(Folder, "five.safetensors");
        pretrained.SaveWeights(weights);

        var train = ml.Data.TakeRows(all, 1200);
        var test = ml.Data.SkipRows(all, 1200);
        var options = ImageClassificationTrainerTests.SmallOptions(epochs: 3);
        options.InitialWeights = weights;
        options.Training = options.Training with { FreezeEpochs = 1 };
        using var tuned = ml.Cnn().ImageClassification(options).Fit(train);
        Assert.AreEqual(10, tuned.ClassNames.Count);
        lock (log)
        {
            string loaded = log.Single(l => l.StartsWith("initial weights", StringComparison.Ordinal));
            StringAssert.Contains(loaded, "network.fc.weight: [5, ");
            Assert.IsTrue(log.Any(l => l.Contains("backbone frozen for 1 epoch(s)", StringComparison.Ordinal) && l.Contains("(network.fc.weight, network.fc.bias) trains", StringComparison.Ordinal)), string.Join('\n', log));
        }

        double accuracy = ml.MulticlassClassification.Evaluate(tuned.Transform(test)).MicroAccuracy;
        Assert.IsTrue(accuracy > 0.6, $"fine-tuned accuracy on 400 held-out images {accuracy:F3}");

        var wrong = ImageClassificationTrainerTests.SmallOptions();
        wrong.Arch = "mobilenet_v2";
        wrong.InitialWeights = weights;
        var error = Assert.ThrowsExactly<InvalidDataException>(() => ml.Cnn().ImageClassification(wrong).Fit(train));
        StringAssert.Contains(error.Message, "another architecture");
    }

    /// <summary>
    /// An outside sweep: weights of another width fit none of the model's weights, only its batch norms' step counters,
    /// and training went on from scratch under "loaded 21 tensors". They are refused as another architecture's are.
    /// </summary>
    [TestMethod]
    public void WeightsOfAnotherWidthAreRefusedNotCountedByTheirBatchNormCounters()
    {
        var ml = new MLContext(seed: 3);
        var data = TestData.Tiny(ml, 16, ["a", "b"]);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new(1, 8, 8), Epoch = 1, BatchSize = 8 };
        using (var narrow = ml.Cnn().ImageClassification(options).Fit(data))
        {
            narrow.SaveWeights(Path.Combine(Folder, "narrow.safetensors"));
        }

        options.WidthMultiplier = 0.25;
        options.InitialWeights = Path.Combine(Folder, "narrow.safetensors");
        var error = Assert.ThrowsExactly<InvalidDataException>(() => ml.Cnn().ImageClassification(options).Fit(data));
        StringAssert.Contains(error.Message, "No weight of");
        StringAssert.Contains(error.Message, "another architecture or width");
        StringAssert.Contains(error.Message, "network.conv1.weight: [8, 1, 3, 3] in the file, [16, 1, 3, 3] in the model");
    }

    /// <summary>
    /// An outside sweep: FreezeEpochs without InitialWeights held a random backbone fixed, its batch norms on their initial
    /// statistics; a GoogLeNet then trained its classifier on features in the thousands (loss 36,951) without a word.
    /// </summary>
    [TestMethod]
    public void FreezingABackboneWithoutInitialWeightsIsLoggedAsAWarning()
    {
        var ml = new MLContext(seed: 4);
        var log = new List<string>();
        ml.Log += (_, e) =>
        {
            lock (log)
            {
                log.Add(e.RawMessage);
            }
        };
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new(1, 8, 8), Epoch = 1, BatchSize = 8 };
        options.Training = options.Training with { FreezeEpochs = 1 };
        using (ml.Cnn().ImageClassification(options).Fit(TestData.Tiny(ml, 16, ["a", "b"])))
        {
        }

        lock (log)
        {
            Assert.IsTrue(log.Any(l => l.StartsWith("warning: FreezeEpochs 1 without InitialWeights", StringComparison.Ordinal)), string.Join('\n', log));
        }
    }
}
