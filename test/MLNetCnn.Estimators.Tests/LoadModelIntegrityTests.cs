using System.IO.Compression;
using Microsoft.ML;
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
        _threeClasses = Train(["a", "b", "c"]);
        _twoClasses = Train(["a", "b"]);
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

    private static string Train(string[] classes)
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
        string path = Path.Combine(Folder, $"model-{classes.Length}.zip");
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
