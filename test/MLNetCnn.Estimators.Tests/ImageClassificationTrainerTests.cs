using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators.Tests;

/// <summary>The ML.NET contract of the trainer, on one small model trained once for the class.</summary>
[TestClass]
public sealed class ImageClassificationTrainerTests
{
    private static MLContext _ml = null!;
    private static IDataView _train = null!;
    private static IDataView _test = null!;
    private static ImageClassificationTransformer _model = null!;
    private static readonly List<string> LogLines = new();
    private static readonly List<EpochMetrics> Callbacks = new();
    private static readonly List<TrainingProgress> Steps = new();

    [ClassInitialize]
    public static void TrainOnce(TestContext context)
    {
        _ml = new MLContext(seed: 1);
        _ml.Log += (_, e) =>
        {
            if (e.Source.StartsWith(nameof(ImageClassificationTrainer), StringComparison.Ordinal))
            {
                lock (LogLines)
                {
                    LogLines.Add(e.RawMessage);
                }
            }
        };
        var all = TestData.FashionSubset(_ml, 2000, seed: 5);
        _train = _ml.Data.TakeRows(all, 1500);
        _test = _ml.Data.SkipRows(all, 1500);
        var options = SmallOptions(epochs: 2);
        options.ValidationSet = _test;
        options.MetricsCallback = Callbacks.Add;
        options.ProgressCallback = Steps.Add;
        _model = _ml.Cnn().ImageClassification(options).Fit(_train);
    }

    [ClassCleanup]
    public static void Cleanup() => _model?.Dispose();

    internal static ImageClassificationTrainer.Options SmallOptions(int epochs = 1) => new()
    {
        Arch = "resnet18",
        WidthMultiplier = 0.25,
        ImageShape = FashionMnist.ImageShape,
        Epoch = epochs,
        BatchSize = 32,
        LearningRate = 0.05,
    };

    [TestMethod]
    public void EvaluateWorksUnchangedAndTheModelLearnedSomething()
    {
        var metrics = _ml.MulticlassClassification.Evaluate(_model.Transform(_test));
        Assert.IsTrue(metrics.MicroAccuracy > 0.6, $"micro-accuracy {metrics.MicroAccuracy:P1} after 2 epochs on 1,500 images (chance is 10%)");
        Assert.IsTrue(metrics.LogLoss < 1.2, $"log-loss {metrics.LogLoss:F3}");
        Assert.AreEqual(10, metrics.ConfusionMatrix.NumberOfClasses);
    }

    [TestMethod]
    public void ScoreIsAProbabilityVectorAndPredictedLabelIsItsArgMaxWithClassNames()
    {
        var scored = _ml.Transforms.Conversion.MapKeyToValue("PredictedName", "PredictedLabel").Fit(_model.Transform(_test)).Transform(_model.Transform(_test));
        var schema = scored.Schema;
        Assert.AreEqual(10, ((VectorDataViewType)schema["Score"].Type).Size);
        Assert.IsInstanceOfType<KeyDataViewType>(schema["PredictedLabel"].Type);
        Assert.AreEqual(10UL, ((KeyDataViewType)schema["PredictedLabel"].Type).Count);

        var scores = scored.GetColumn<float[]>("Score").ToList();
        var keys = scored.GetColumn<uint>("PredictedLabel").ToList();
        var names = scored.GetColumn<string>("PredictedName").ToList();
        for (int i = 0; i < scores.Count; i++)
        {
            Assert.AreEqual(1.0, scores[i].Sum(), 1e-4);
            int argmax = Array.IndexOf(scores[i], scores[i].Max());
            Assert.AreEqual((uint)argmax + 1, keys[i], $"row {i}");
            Assert.AreEqual(FashionMnist.ClassNames[argmax], names[i], $"row {i}");
        }
    }

    [TestMethod]
    public void SavedModelLoadsInAFreshContextWithIdenticalScores()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mlnetcnn-{Guid.NewGuid():N}.zip");
        try
        {
            _ml.Model.Save(_model, _train.Schema, path);
            var fresh = new MLContext();
            var loaded = fresh.Cnn().LoadModel(path, out var inputSchema);
            Assert.IsNotNull(inputSchema);
            Assert.IsNotNull(inputSchema.GetColumnOrNull("Features"));
            var expected = _model.Transform(_test).GetColumn<float[]>("Score").ToList();
            var actual = loaded.Transform(_test).GetColumn<float[]>("Score").ToList();
            Assert.AreEqual(expected.Count, actual.Count);
            for (int i = 0; i < expected.Count; i++)
            {
                CollectionAssert.AreEqual(expected[i], actual[i], $"row {i}");
            }

            var labels = fresh.Transforms.Conversion.MapKeyToValue("Name", "PredictedLabel").Fit(loaded.Transform(_test)).Transform(loaded.Transform(_test)).GetColumn<string>("Name");
            Assert.IsTrue(labels.All(FashionMnist.ClassNames.Contains));
            ((IDisposable)loaded).Dispose();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void GetClassNamesReadsTheModelsClassesInScoreOrder()
    {
        CollectionAssert.AreEqual(FashionMnist.ClassNames.ToList(), _ml.Cnn().GetClassNames(_model, _train.Schema).ToList());
        CollectionAssert.AreEqual(_model.ClassNames.ToList(), _ml.Cnn().GetClassNames(_model.Transform(_test).Schema).ToList());
        var e = Assert.ThrowsExactly<ArgumentException>(() => _ml.Cnn().GetClassNames(_train.Schema));
        StringAssert.Contains(e.Message, "no 'PredictedLabel' column (columns: Label, Features)");
    }

    [TestMethod]
    public void DisposingAFittedOrLoadedModelDeletesOnnxRuntimesTempCopy()
    {
        // ApplyOnnxModel writes the model's ONNX bytes to MLContext.TempFilePath; Dispose deletes that file (.NET runs
        // no finalizers; a fitted model's file also goes at process exit, CrossValidationTests).
        string temp = Directory.CreateTempSubdirectory("mlnetcnn-dispose-").FullName;
        string zip = Path.Combine(temp, "model.zip");
        try
        {
            var ml = new MLContext(seed: 1) { TempFilePath = Path.Combine(temp, "fit") };
            Directory.CreateDirectory(ml.TempFilePath);
            var options = SmallOptions();
            options.BatchSize = 64;
            var model = ml.Cnn().ImageClassification(options).Fit(ml.Data.TakeRows(_train, 64));
            Assert.AreEqual(1, Directory.GetFiles(ml.TempFilePath).Length, "the fitted model's ONNX copy");
            ml.Model.Save(model, _train.Schema, zip);
            model.Dispose();
            Assert.AreEqual(0, Directory.GetFiles(ml.TempFilePath).Length, "after Dispose of the fitted model");

            var fresh = new MLContext { TempFilePath = Path.Combine(temp, "load") };
            Directory.CreateDirectory(fresh.TempFilePath);
            var loaded = fresh.Cnn().LoadModel(zip, out _);
            Assert.AreEqual(1, Directory.GetFiles(fresh.TempFilePath).Length, "the loaded model's ONNX copy");
            Assert.AreEqual(_test.GetRowCount() ?? 500, loaded.Transform(_test).GetColumn<float[]>("Score").Count());
            ((IDisposable)loaded).Dispose();
            Assert.AreEqual(0, Directory.GetFiles(fresh.TempFilePath).Length, "after Dispose of the loaded model");
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    [TestMethod]
    public void CancellingTheTokenStopsFitAfterTheCurrentStep()
    {
        using var source = new CancellationTokenSource();
        var options = SmallOptions();
        int steps = 0;
        options.ProgressCallback = _ =>
        {
            if (++steps == 3)
            {
                source.Cancel();
            }
        };
        options.CancellationToken = source.Token;
        var e = Assert.ThrowsExactly<OperationCanceledException>(() => new MLContext(seed: 1).Cnn().ImageClassification(options).Fit(_train));
        Assert.AreEqual(3, steps, "no step after the one during which the token was cancelled");
        StringAssert.Contains(e.Message, "epoch 1, after 3 completed step(s)");
        Assert.AreEqual(source.Token, e.CancellationToken);
    }

    [TestMethod]
    public void ACancelledTokenStopsFitBeforeTheFirstStep()
    {
        using var source = new CancellationTokenSource();
        source.Cancel();
        var options = SmallOptions();
        int steps = 0;
        options.ProgressCallback = _ => steps++;
        options.CancellationToken = source.Token;
        var e = Assert.ThrowsExactly<OperationCanceledException>(() => new MLContext(seed: 1).Cnn().ImageClassification(options).Fit(_train));
        Assert.AreEqual(0, steps);
        Assert.AreEqual(source.Token, e.CancellationToken);
    }

    [TestMethod]
    public void PredictionEngineScoresLikeTransform()
    {
        // Not disposed: with Microsoft.ML 5.0.1 on ONNX Runtime 1.31, disposing a PredictionEngine over
        // any ApplyOnnxModel transformer breaks later scoring in the process (see docs/platform.md, known issues).
        var engine = _ml.Model.CreatePredictionEngine<TestData.Row, Prediction>(_model);
        var rows = _ml.Data.CreateEnumerable<TestData.Row>(_test, reuseRowObject: false).Take(20).ToList();
        var expected = _model.Transform(_test).GetColumn<float[]>("Score").Take(20).ToList();
        for (int i = 0; i < rows.Count; i++)
        {
            var prediction = engine.Predict(rows[i]);
            CollectionAssert.AreEqual(expected[i], prediction.Score, $"row {i}");
            Assert.AreEqual((uint)Array.IndexOf(prediction.Score, prediction.Score.Max()) + 1, prediction.PredictedLabel);
        }

    }

    [TestMethod]
    public void OnnxFileScoresLikeTheModelOutsideMLNet()
    {
        var rows = _ml.Data.CreateEnumerable<TestData.Row>(_test, reuseRowObject: false).Take(8).ToList();
        var expected = _model.Transform(_test).GetColumn<float[]>("Score").Take(8).ToList();
        using var stream = new MemoryStream();
        _model.SaveOnnx(stream);
        using var session = new InferenceSession(stream.ToArray());
        Assert.AreEqual("Features", session.InputMetadata.Keys.Single());
        Assert.AreEqual(-1, session.InputMetadata["Features"].Dimensions[0], "dynamic batch dimension");
        StringAssert.Contains(session.ModelMetadata.CustomMetadataMap["mlnetcnn.class_names"], "Ankle boot");

        var input = rows.SelectMany(r => r.Features).ToArray();
        using var value = OrtValue.CreateTensorValueFromMemory(input, new long[] { rows.Count, 784 });
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, new[] { "Features" }, new[] { value }, new[] { "Score" });
        var actual = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        for (int i = 0; i < rows.Count; i++)
        {
            for (int k = 0; k < 10; k++)
            {
                Assert.AreEqual(expected[i][k], actual[(i * 10) + k], 1e-5, $"row {i} class {k}");
            }
        }
    }

    [TestMethod]
    public void ScoringALoadedModelInAnotherProcessDoesNotLoadLibtorch()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mlnetcnn-{Guid.NewGuid():N}.zip");
        try
        {
            _ml.Model.Save(_model, _train.Schema, path);
            string probe = Path.Combine(AppContext.BaseDirectory, "ScoringProbe.dll");
            Assert.IsTrue(File.Exists(probe), $"{probe} was not built next to the tests");
            var start = new ProcessStartInfo("dotnet", $"\"{probe}\" \"{path}\" 784") { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            string output = process.StandardOutput.ReadToEnd();
            string error = process.StandardError.ReadToEnd();
            Assert.IsTrue(process.WaitForExit(120_000), "probe timed out");
            Assert.AreEqual(0, process.ExitCode, $"probe failed: {output}\n{error}");
            StringAssert.Contains(output, "libtorch-loaded=false", $"a serving process must not load libtorch:\n{output}");

            // The probe scored pixel i = i % 255: the same row scored here must give the same probabilities.
            var pixels = Enumerable.Range(0, 784).Select(i => (float)(i % 255)).ToArray();
            var row = TestData.Build(_ml, new[] { new TestData.FloatRow { Label = "Bag", Features = pixels } }, 784, FashionMnist.ClassNames);
            var expected = _model.Transform(row).GetColumn<float[]>("Score").Single();
            var reported = output.Split('\n').Single(l => l.StartsWith("score=", StringComparison.Ordinal))["score=".Length..].Trim().Split(',').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            CollectionAssert.AreEqual(expected, reported);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void ProgressReachesMLContextLogAndTheMetricsCallback()
    {
        Assert.AreEqual(2, Callbacks.Count);
        Assert.AreEqual(1, Callbacks[0].Epoch);
        Assert.AreEqual(2, Callbacks[1].Epoch);
        Assert.IsNotNull(Callbacks[1].ValidationAccuracy, "validation set evaluated each epoch");
        Assert.IsTrue(Callbacks.All(c => c.ImagesPerSecond > 0 && c.Elapsed > TimeSpan.Zero));
        Assert.IsTrue(Callbacks[1].TrainLoss < Callbacks[0].TrainLoss, "loss falls from epoch 1 to 2");
        lock (LogLines)
        {
            Assert.IsTrue(LogLines.Any(l => l.Contains("epoch 2/2: loss", StringComparison.Ordinal)), string.Join('\n', LogLines));
            Assert.IsTrue(LogLines.Any(l => l.Contains("img/s", StringComparison.Ordinal)));
        }

        CollectionAssert.AreEqual(Callbacks, _model.TrainingHistory.ToList());

        // One progress report per optimizer step; each epoch's count climbs to the epoch's size.
        int stepsPerEpoch = (1500 + SmallOptions().BatchSize - 1) / SmallOptions().BatchSize;
        Assert.AreEqual(2 * stepsPerEpoch, Steps.Count);
        foreach (var epoch in Steps.GroupBy(p => p.Epoch))
        {
            var seen = epoch.Select(p => p.ImagesSeen).ToList();
            CollectionAssert.AreEqual(seen.Order().ToList(), seen, "images seen only grows");
            Assert.AreEqual(1500, seen[^1]);
            Assert.IsTrue(epoch.All(p => p.ImagesInEpoch == 1500 && p.Epochs == 2 && p.ImagesPerSecond > 0 && double.IsFinite(p.TrainLoss)));
            Assert.AreEqual(TimeSpan.Zero, epoch.Last().EpochRemaining);
        }
    }

    [TestMethod]
    public void TheTrainedBackboneFeaturizesForSdcaAndRoundTrips()
    {
        // The backbone's embedding (128 values for ResNet-18 at width 0.25) feeds ML.NET's SDCA, a linear model.
        using var featurizer = _model.CreateFeaturizer();
        Assert.AreEqual(128, featurizer.EmbeddingSize);
        var sdca = _ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(labelColumnName: "Label", featureColumnName: "Embedding", maximumNumberOfIterations: 30);
        var trainEmbedded = _ml.Data.Cache(featurizer.Transform(_train));
        var classifier = sdca.Fit(trainEmbedded);
        var metrics = _ml.MulticlassClassification.Evaluate(classifier.Transform(featurizer.Transform(_test)));
        Assert.IsTrue(metrics.MicroAccuracy > 0.7, $"SDCA on the embedding: accuracy {metrics.MicroAccuracy:F3} on 500 held-out images (chance 0.1)");

        // Saved, loaded with the serving package, and rebuilt from the saved weights without training: the same numbers.
        string folder = Directory.CreateTempSubdirectory("mlnetcnn-featurizer-").FullName;
        try
        {
            string zip = Path.Combine(folder, "featurizer.zip");
            _ml.Model.Save(featurizer, _train.Schema, zip);
            var loaded = new MLContext().CnnServing().LoadModel(zip, out _);
            var expected = featurizer.Transform(_test).GetColumn<float[]>("Embedding").Take(20).ToList();
            var reloaded = loaded.Transform(_test).GetColumn<float[]>("Embedding").Take(20).ToList();
            ((IDisposable)loaded).Dispose();

            string weights = Path.Combine(folder, "weights.safetensors");
            _model.SaveWeights(weights);
            using var fromWeights = _ml.Cnn().ImageFeaturizer(new ImageFeaturizerEstimator.Options
            {
                Architecture = Architectures.Families.ResNetConfig.ResNet18 with { Width = 0.25 },
                InitialWeights = weights,
                ImageShape = FashionMnist.ImageShape,
            }).Fit(_train);
            var rebuilt = fromWeights.Transform(_test).GetColumn<float[]>("Embedding").Take(20).ToList();
            for (int i = 0; i < expected.Count; i++)
            {
                CollectionAssert.AreEqual(expected[i], reloaded[i], $"row {i} after Save/Load");
                for (int k = 0; k < expected[i].Length; k++)
                {
                    Assert.AreEqual(expected[i][k], rebuilt[i][k], 1e-4, $"row {i}, feature {k} from the saved weights");
                }
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public void OutputSchemaAddsScoreAndPredictedLabel()
    {
        var trainer = _ml.Cnn().ImageClassification(SmallOptions());
        var shape = trainer.GetOutputSchema(SchemaShapes.FromSchema(_train.Schema));
        var score = shape.Single(c => c.Name == "Score");
        Assert.AreEqual(NumberDataViewType.Single, score.ItemType);
        Assert.IsTrue(shape.Single(c => c.Name == "PredictedLabel").IsKey);
        Assert.IsTrue(shape.Any(c => c.Name == "Label"), "input columns pass through");
    }

    [TestMethod]
    public void TheTrainerCopiesItsOptions()
    {
        var options = SmallOptions();
        var trainer = _ml.Cnn().ImageClassification(options);
        options.FeatureColumnName = "Missing";
        var shape = trainer.GetOutputSchema(SchemaShapes.FromSchema(_train.Schema));
        Assert.IsTrue(shape.Any(c => c.Name == "Score"), "changing the options after construction has no effect");
    }

    private sealed class Prediction
    {
        public float[] Score { get; set; } = Array.Empty<float>();

        public uint PredictedLabel { get; set; }
    }
}
