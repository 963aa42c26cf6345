using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Issue 11, row 8: loading a model zip checks its ONNX graph before ML.NET copies it to a temporary file (a corrupt
/// graph is one error naming the zip, and nothing is left behind), and checks that the graph scores as many classes
/// as the model has names.
/// </summary>
[TestClass]
public sealed class LoadModelIntegrityTests
{
    private static readonly string Folder = Directory.CreateTempSubdirectory("mlnetcnn-load-").FullName;
    private static string _threeClasses = string.Empty;
    private static string _twoClasses = string.Empty;

    [ClassInitialize]
    public static void TrainTwoModels(TestContext context)
    {
        _threeClasses = Train(["a", "b", "c"], Folder);
        _twoClasses = Train(["a", "b"], Folder);
    }

    [ClassCleanup]
    public static void DeleteFolder() => Directory.Delete(Folder, recursive: true);

    [TestMethod]
    public void AnIntactModelLoadsAndNamesItsClasses()
    {
        var ml = new MLContext();
        var model = ml.Cnn().LoadModel(_threeClasses, out var schema);
        CollectionAssert.AreEqual(new[] { "a", "b", "c" }, ml.Cnn().GetClassNames(model, schema).ToList());
        (model as IDisposable)?.Dispose();
    }

    [TestMethod]
    public void AGraphWithAnotherClassCountThanTheNamesIsRefused()
    {
        string swapped = Path.Combine(Folder, "swapped.zip");
        File.Copy(_threeClasses, swapped, overwrite: true);
        ReplaceOnnx(swapped, OnnxEntry(_twoClasses));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => new MLContext().Cnn().LoadModel(swapped, out _));
        StringAssert.Contains(e.Message, swapped);
        StringAssert.Contains(e.Message, "2 classes");
        StringAssert.Contains(e.Message, "3 class names");
    }

    [TestMethod]
    public void ACorruptGraphIsOneErrorNamingTheZipAndLeavesNoTemporaryFile()
    {
        string corrupt = Path.Combine(Folder, "corrupt.zip");
        File.Copy(_threeClasses, corrupt, overwrite: true);
        var bytes = OnnxEntry(_threeClasses);
        new Random(3).NextBytes(bytes.AsSpan(4 + 100, 4096)); // keep ML.NET's length prefix, break the graph
        ReplaceOnnx(corrupt, bytes);
        string temp = Directory.CreateTempSubdirectory("mlnetcnn-load-temp-").FullName;
        try
        {
            var ml = new MLContext { TempFilePath = temp };
            var e = Assert.ThrowsExactly<InvalidDataException>(() => ml.Cnn().LoadModel(corrupt, out _));
            StringAssert.Contains(e.Message, corrupt);
            StringAssert.Contains(e.Message, "ONNX");
            Assert.IsNull(e.InnerException?.InnerException?.InnerException, $"one clear error, not wrappers five deep: {e}");
            CollectionAssert.AreEqual(Array.Empty<string>(), Directory.GetFiles(temp), "nothing left in the temp folder");
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    [TestMethod]
    public void ABitFlippedInsideTheCompressedGraphIsCaughtByTheChecksum()
    {
        // Deflate often inflates a flipped bit to other bytes without complaint: weights that load and score wrongly.
        var (start, length) = CompressedSpan(_threeClasses, "/OnnxModel");
        var original = File.ReadAllBytes(_threeClasses);
        for (int trial = 0; trial < 8; trial++)
        {
            long offset = start + (length * (trial + 1) / 9);
            string damaged = Path.Combine(Folder, $"flipped-{trial}.zip");
            var bytes = (byte[])original.Clone();
            bytes[offset] ^= (byte)(1 << (trial % 8));
            File.WriteAllBytes(damaged, bytes);
            var e = Assert.ThrowsExactly<InvalidDataException>(() => new MLContext().Cnn().LoadModel(damaged, out _), $"bit {trial % 8} of byte {offset}");
            StringAssert.Contains(e.Message, damaged);
        }
    }

    [TestMethod]
    public void AByteChangedAnywhereIsAnErrorNamingTheZipOrHarmless()
    {
        // Every error, wherever the damage lies (headers, ML.NET's own entries, the graph), names the zip; a byte that
        // nothing reads (a timestamp, padding) may leave the model as it was, so then it must score like the original.
        var ml = new MLContext();
        var original = File.ReadAllBytes(_threeClasses);
        var reference = ml.Cnn().LoadModel(_threeClasses, out _);
        var probe = TestData.Build(ml, [new TestData.FloatRow { Label = "a", Features = Enumerable.Range(0, 64).Select(j => (float)(j * 3 % 255)).ToArray() }], 64, ["a", "b", "c"]);
        var expected = reference.Transform(probe).GetColumn<float[]>("Score").Single();
        (reference as IDisposable)?.Dispose();
        var random = new Random(11);
        for (int trial = 0; trial < 40; trial++)
        {
            int offset = random.Next(original.Length);
            string damaged = Path.Combine(Folder, $"byte-{trial}.zip");
            var bytes = (byte[])original.Clone();
            bytes[offset] ^= (byte)random.Next(1, 256);
            File.WriteAllBytes(damaged, bytes);
            ITransformer model;
            try
            {
                model = ml.Cnn().LoadModel(damaged, out _);
            }
            catch (InvalidDataException e)
            {
                StringAssert.Contains(e.Message, damaged, $"byte {offset}: {e}");
                continue;
            }

            CollectionAssert.AreEqual(expected, model.Transform(probe).GetColumn<float[]>("Score").Single(), $"byte {offset} loaded, so it must score as before");
            (model as IDisposable)?.Dispose();
        }
    }

    [TestMethod]
    public void AModelSavedWithoutItsInputSchemaLoadsAndScoresAsSaved()
    {
        // mlContext.Model.Save(model, null, path) is lawful ML.NET, and Model.Load scores such a zip; LoadModel threw a
        // NullReferenceException from its integrity check (found by an outside sweep).
        var ml = new MLContext();
        string bare = SaveWithoutSchema(ml, ml.Model.Load(_threeClasses, out _), "bare.zip");
        var probe = Probe(ml);
        var model = ml.Cnn().LoadModel(bare, out var schema);
        Assert.IsNull(schema, "as Model.Load: no schema was saved");
        CollectionAssert.AreEqual(ScoreOf(ml, _threeClasses, probe), model.Transform(probe).GetColumn<float[]>("Score").Single());
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Cnn().GetClassNames(model, schema!));
        StringAssert.Contains(e.Message, "without an input schema");
        CollectionAssert.AreEqual(new[] { "a", "b", "c" }, ml.Cnn().GetClassNames(model.GetOutputSchema(probe.Schema)).ToList());

        var wrongSize = TestData.Build(ml, [new TestData.FloatRow { Label = "a", Features = new float[49] }], 49, ["a", "b", "c"]);
        var refused = Assert.ThrowsExactly<ArgumentException>(() => model.Transform(wrongSize));
        StringAssert.Contains(refused.Message, "Features");
        StringAssert.Contains(refused.Message, "64 values");
        (model as IDisposable)?.Dispose();
    }

    [TestMethod]
    public void AChainSavedWithoutItsInputSchemaLoadsAndScoresAsSaved()
    {
        // The model behind an ML.NET step of the application's: LoadModel returned it, and every use threw
        // ArgumentNullException ("Value cannot be null. (Parameter 'source')").
        var ml = new MLContext();
        var probe = Probe(ml);
        var copy = ml.Transforms.CopyColumns("Copied", "Features").Fit(probe);
        var chain = new TransformerChain<ITransformer>(copy, ml.Model.Load(_threeClasses, out _));
        string bare = SaveWithoutSchema(ml, chain, "bare-chain.zip");
        var model = ml.Cnn().LoadModel(bare, out var schema);
        Assert.IsNull(schema);
        CollectionAssert.AreEqual(ScoreOf(ml, _threeClasses, probe), model.Transform(probe).GetColumn<float[]>("Score").Single());
        using var engine = ml.Model.CreatePredictionEngine<TestData.FloatRow, ScoreOnly>(model, inputSchemaDefinition: SixtyFour());
        CollectionAssert.AreEqual(ScoreOf(ml, _threeClasses, probe), engine.Predict(new TestData.FloatRow { Label = "a", Features = ProbePixels() }).Score);
        (model as IDisposable)?.Dispose();
    }

    private static string SaveWithoutSchema(MLContext ml, ITransformer model, string name)
    {
        string path = Path.Combine(Folder, name);
        ml.Model.Save(model, null, path);
        (model as IDisposable)?.Dispose();
        return path;
    }

    private static float[] ProbePixels() => Enumerable.Range(0, 64).Select(j => (float)(j * 3 % 255)).ToArray();

    private static IDataView Probe(MLContext ml) => TestData.Build(ml, [new TestData.FloatRow { Label = "a", Features = ProbePixels() }], 64, ["a", "b", "c"]);

    private static SchemaDefinition SixtyFour()
    {
        var schema = SchemaDefinition.Create(typeof(TestData.FloatRow));
        schema[nameof(TestData.FloatRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 64);
        return schema;
    }

    private static float[] ScoreOf(MLContext ml, string zip, IDataView probe)
    {
        var model = ml.Cnn().LoadModel(zip, out _);
        var score = model.Transform(probe).GetColumn<float[]>("Score").Single();
        (model as IDisposable)?.Dispose();
        return score;
    }

    /// <summary>
    /// Found by an outside sweep (an application built from the packages with nullable reference types on): LoadModel
    /// returns a null input schema for a model saved without one, but declared it non-nullable, so
    /// <c>LoadModel(path, out var schema); schema.GetColumnOrNull(...)</c> compiled without a warning and threw
    /// NullReferenceException; and GetClassNames(model, schema), which explains a null schema, could not be given one without a warning.
    /// </summary>
    [TestMethod]
    public void TheInputSchemaOfLoadModelAndGetClassNamesIsDeclaredNullable()
    {
        var nullability = new System.Reflection.NullabilityInfoContext();
        var parameters = new[] { typeof(MLNetCnn.Serving.CnnServingCatalog), typeof(CnnCatalog) }
            .SelectMany(t => t.GetMethods())
            .Where(m => m.Name is "LoadModel" or "GetClassNames")
            .SelectMany(m => m.GetParameters().Where(p => p.Name == "inputSchema").Select(p => (Method: $"{m.DeclaringType!.Name}.{m}", Parameter: p)))
            .ToList();
        Assert.AreEqual(6, parameters.Count, string.Join("; ", parameters.Select(p => p.Method)));
        foreach (var (method, parameter) in parameters)
        {
            Assert.AreEqual(System.Reflection.NullabilityState.Nullable, nullability.Create(parameter).ReadState, method);
        }
    }

    private sealed class ScoreOnly
    {
        public float[] Score { get; set; } = [];
    }

    [TestMethod]
    public void Crc32MatchesTheStandardCheckValue()
    {
        var check = "123456789"u8.ToArray();
        Assert.AreEqual(0xCBF43926u, MLNetCnn.Serving.Crc32.Of(check));
        Assert.AreEqual(0xCBF43926u, MLNetCnn.Serving.Crc32.Finish(MLNetCnn.Serving.Crc32.Append(MLNetCnn.Serving.Crc32.Append(MLNetCnn.Serving.Crc32.Start, check.AsSpan(0, 4)), check.AsSpan(4))));
        Assert.AreEqual(0u, MLNetCnn.Serving.Crc32.Of(ReadOnlySpan<byte>.Empty));
    }

    /// <summary>Where an entry's compressed bytes lie in the zip: after its local header (30 bytes, the name and the extra field).</summary>
    private static (long Start, long Length) CompressedSpan(string zip, string suffix)
    {
        long headerOffset;
        long compressed;
        using (var archive = ZipFile.OpenRead(zip))
        {
            var entry = archive.Entries.Single(e => e.FullName.EndsWith(suffix, StringComparison.Ordinal));
            compressed = entry.CompressedLength;
            headerOffset = FindLocalHeader(File.ReadAllBytes(zip), entry.FullName);
        }

        var bytes = File.ReadAllBytes(zip);
        int nameLength = BitConverter.ToUInt16(bytes, (int)headerOffset + 26);
        int extraLength = BitConverter.ToUInt16(bytes, (int)headerOffset + 28);
        return (headerOffset + 30 + nameLength + extraLength, compressed);
    }

    private static long FindLocalHeader(byte[] bytes, string name)
    {
        var signature = new byte[] { 0x50, 0x4B, 0x03, 0x04 };
        var nameBytes = System.Text.Encoding.UTF8.GetBytes(name);
        for (int i = 0; i + 30 + nameBytes.Length <= bytes.Length; i++)
        {
            if (bytes.AsSpan(i, 4).SequenceEqual(signature) && bytes.AsSpan(i + 30, nameBytes.Length).SequenceEqual(nameBytes))
            {
                return i;
            }
        }

        throw new InvalidOperationException($"no local header for '{name}'");
    }

    /// <summary>A resnet18 x0.125 classifier of 8 x 8 grey images (a 64-value Features column), trained one epoch and saved in <paramref name="folder"/>.</summary>
    internal static string Train(string[] classes, string folder)
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 24).Select(i => new TestData.FloatRow
        {
            Label = classes[i % classes.Length],
            Features = Enumerable.Range(0, 64).Select(j => (float)(((i % classes.Length) * 80) + (j % 7))).ToArray(),
        });
        var data = TestData.Build(ml, rows.ToList(), 64, classes);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
        using var model = ml.Cnn().ImageClassification(options).Fit(data);
        string path = Path.Combine(folder, $"model-{classes.Length}.zip");
        ml.Model.Save(model, data.Schema, path);
        return path;
    }

    private static byte[] OnnxEntry(string zip)
    {
        using var archive = ZipFile.OpenRead(zip);
        using var stream = archive.Entries.Single(e => e.FullName.EndsWith("/OnnxModel", StringComparison.Ordinal)).Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static void ReplaceOnnx(string zip, byte[] bytes)
    {
        using var archive = ZipFile.Open(zip, ZipArchiveMode.Update);
        var entry = archive.Entries.Single(e => e.FullName.EndsWith("/OnnxModel", StringComparison.Ordinal));
        string name = entry.FullName;
        entry.Delete();
        using var stream = archive.CreateEntry(name).Open();
        stream.Write(bytes);
    }
}
