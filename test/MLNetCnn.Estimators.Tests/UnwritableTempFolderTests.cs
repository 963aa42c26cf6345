using Microsoft.ML;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// <c>MLContext.TempFilePath</c> (the system's temporary folder unless set) that cannot be written: a container with a
/// read-only root file system, a TMPDIR that does not exist. Here it is a folder under a regular file.
/// </summary>
[TestClass]
public sealed class UnwritableTempFolderTests
{
    private static readonly string Folder = Directory.CreateTempSubdirectory("mlnetcnn-tempfolder-").FullName;
    private static readonly string Unwritable = Path.Combine(Folder, "not-a-folder", "tmp");
    private static string _model = string.Empty;

    [ClassInitialize]
    public static void SaveAModel(TestContext context)
    {
        File.WriteAllText(Path.Combine(Folder, "not-a-folder"), "a file where the temporary folder's parent should be");
        _model = LoadModelIntegrityTests.Train(["a", "b"], Folder);
    }

    [ClassCleanup]
    public static void DeleteFolder() => Directory.Delete(Folder, recursive: true);

    /// <summary>
    /// Found by an outside sweep: with a temporary folder that cannot be created (a TMPDIR that does not exist, a read-only
    /// root file system in a container), LoadModel said the model "needs assembly '/that/folder'" and was "saved by another
    /// version of MLNetCnn": ML.NET's FileNotFoundException for the folder was taken for a missing assembly's.
    /// </summary>
    [TestMethod]
    public void LoadModelNamesTheFolderRatherThanAMissingAssembly()
    {
        var ml = new MLContext { TempFilePath = Unwritable };
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ml.CnnServing().LoadModel(_model, out _));
        StringAssert.Contains(e.Message, _model);
        StringAssert.Contains(e.Message, $"temporary folder '{ml.TempFilePath}'");
        StringAssert.Contains(e.Message, "TempFilePath");
        Assert.IsFalse(e.Message.Contains("another version", StringComparison.Ordinal), e.Message);

        // The same zip loads once the folder can be written.
        ml.TempFilePath = Path.Combine(Folder, "tmp");
        (ml.CnnServing().LoadModel(_model, out _) as IDisposable)?.Dispose();
    }

    /// <summary>
    /// Found by an outside sweep: 'mlnetcnn train' with TMPDIR=/proc/nonexistent trained to its last epoch and then failed
    /// with "Could not find a part of the path '/proc/nonexistent/mlnetcnn-....onnx'", where the trained graph goes.
    /// The trainer now refuses the folder before it reads a row.
    /// </summary>
    [TestMethod]
    public void TrainingRefusesTheFolderBeforeReadingARow()
    {
        var ml = new MLContext(seed: 1) { TempFilePath = Unwritable };
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.25, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 8 };
        var e = Assert.ThrowsExactly<IOException>(() => ml.Cnn().ImageClassification(options).Fit(TestData.Unreadable(ml)));
        StringAssert.Contains(e.Message, $"'{Unwritable}'");
        StringAssert.Contains(e.Message, "TempFilePath");
    }
}
