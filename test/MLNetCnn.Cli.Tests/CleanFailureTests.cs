using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Serving;
using MLNetCnn.TestSupport;

namespace MLNetCnn.Cli.Tests;

/// <summary>
/// Issue 11, row 4: configurations that used to end in an unhandled exception, a stack trace and SIGABRT end with
/// exit 1 or 2 and one line on stderr; <c>summary</c> refuses what <c>train</c> refuses, with the same message;
/// <c>--verbose</c> adds the stack trace.
/// </summary>
[TestClass]
public sealed class CleanFailureTests
{
    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    public void ALimitThatLeavesOneClassIsOneLineAndExitOne()
    {
        // 40 images of one class and 1 of the other. The split is stratified, so the single disc stays in training
        // (21 images); --limit 10 then takes a random 10 of them, and with seed 1 the disc is not among them.
        string data = Cli.TempFolder("lopsided");
        GeneratedImages.Write(data, perClass: 40, seed: 2);
        Directory.Delete(Path.Combine(data, "stripes"), recursive: true);
        foreach (string file in Directory.GetFiles(Path.Combine(data, "discs")).Skip(1))
        {
            File.Delete(file);
        }

        var result = Cli.Run("train", "--data", data, "--output", Cli.TempFolder("lopsided-run"), "--validation-fraction", "0.5", "--limit", "10", "--seed", "1", "--image-size", "16", "--width", "0.25", "--epochs", "1");
        Assert.AreEqual(1, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "--limit", result.ToString());
        AssertOneLine(result);
    }

    [TestMethod]
    [DataRow("vgg11", "0.125")]
    [DataRow("inception_v3", "1")]
    public void AnInputTooSmallForTheArchitectureIsRefusedBySummaryAndTrainAlike(string arch, string width)
    {
        string data = Cli.TempFolder("small-" + arch);
        GeneratedImages.Write(data, perClass: 4, seed: 3);
        var train = Cli.Run("train", "--data", data, "--output", Cli.TempFolder("small-run-" + arch), "--arch", arch, "--image-size", "8", "--width", width, "--epochs", "1", "--batch", "4");
        var summary = Cli.Run("summary", arch, "--size", "8", "--width", width, "--classes", "3");
        foreach (var result in new[] { train, summary })
        {
            Assert.AreEqual(2, result.ExitCode, result.ToString());
            StringAssert.Contains(result.Error, "too small", result.ToString());
            AssertOneLine(result);
        }

        Assert.AreEqual(Message(summary, "summary"), Message(train, "train"), "summary refuses with train's message");
    }

    [TestMethod]
    [DataRow("vgg11")]
    [DataRow("inception_v3")]
    public void SummaryOfANativeStemThatCannotRunIsRefused(string arch)
    {
        var result = Cli.Run("summary", arch, "--size", "8", "--small-input-stem=false");
        Assert.AreEqual(2, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "too small");
        Assert.AreEqual(string.Empty, result.Output, "no table for a network that cannot run");
        AssertOneLine(result);
    }

    [TestMethod]
    public void AClassFolderNamedWithATabIsRefusedBeforeTraining()
    {
        // Before, it trained, and predict's tab-separated lines then had a field too many.
        string data = Cli.TempFolder("tab-class");
        GeneratedImages.Write(data, perClass: 3, seed: 4);
        Directory.Move(Path.Combine(data, "discs"), Path.Combine(data, "tab\tx"));
        var result = Cli.Run("train", "--data", data, "--output", Cli.TempFolder("tab-class-run"), "--image-size", "8", "--width", "0.25", "--epochs", "1");
        Assert.AreEqual(1, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "class folder 'tab\\tx' has a control character", result.ToString());
        AssertOneLine(result);
    }

    [TestMethod]
    public void AnUnreadableClassFolderIsAnErrorNotAMissingClass()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Inconclusive("Unix permissions.");
            return;
        }

        string data = Cli.TempFolder("unreadable-class");
        GeneratedImages.Write(data, perClass: 3, seed: 4);
        string stripes = Path.Combine(data, "stripes");
        File.SetUnixFileMode(stripes, UnixFileMode.None);
        try
        {
            // As root (CI), only with its permission overrides lowered (FilePermissions) is a folder of mode 000 unreadable.
            // Before, the walk skipped it and a model of two classes was trained, exit code 0.
            var result = FilePermissions.Enforced(() => Cli.Run("train", "--data", data, "--output", Cli.TempFolder("unreadable-class-run"), "--image-size", "8", "--width", "0.25", "--epochs", "1"));
            Assert.AreEqual(1, result.ExitCode, result.ToString());
            StringAssert.Contains(result.Error, $"'{stripes}' cannot be read", result.ToString());
            AssertOneLine(result);
        }
        finally
        {
            File.SetUnixFileMode(stripes, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [TestMethod]
    public void OneImagePerClassSaysWhyNothingIsHeldOut()
    {
        // Found by an outside sweep: the message said to change --validation-fraction, which cannot help.
        string data = Cli.TempFolder("one-per-class");
        GeneratedImages.Write(data, perClass: 1, seed: 5);
        var result = Cli.Run("train", "--data", data, "--output", Cli.TempFolder("one-per-class-run"), "--image-size", "8", "--width", "0.25", "--epochs", "1");
        Assert.AreEqual(1, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "only when it has at least 2", result.ToString());
        StringAssert.Contains(result.Error, "--test-data", result.ToString());
        AssertOneLine(result);
    }

    [TestMethod]
    public void VerboseAddsTheStackTrace()
    {
        var quiet = Cli.Run("summary", "vgg11", "--size", "8", "--small-input-stem=false");
        var verbose = Cli.Run("summary", "vgg11", "--size", "8", "--small-input-stem=false", "--verbose");
        Assert.AreEqual(quiet.ExitCode, verbose.ExitCode);
        StringAssert.Contains(verbose.Error, Message(quiet, "summary"));
        StringAssert.Contains(verbose.Error, "   at ", verbose.ToString());
    }

    private static string Message(CliResult result, string command) => result.Error.Split('\n')[0].Replace($"mlnetcnn {command}: ", string.Empty, StringComparison.Ordinal);

    [TestMethod]
    public void AModelSavedByAnotherVersionIsOneLineNamingTheMissingAssembly()
    {
        // The arg-max step alone is enough: its CustomMapping names MLNetCnn.Serving's assembly version in the zip.
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable([new ScoreRow { Score = [0.2f, 0.7f] }]);
        var model = ml.Transforms.CustomMapping<ScoreInput, PredictedIndexOutput>(ScoreArgMax.Map, ScoreArgMax.ContractName).Fit(data);
        string folder = Cli.TempFolder("other-version");
        string saved = Path.Combine(folder, "saved.zip");
        string other = Path.Combine(folder, "other-version.zip");
        ml.Model.Save(model, data.Schema, saved);
        var (current, missing) = ModelZipRewrite.ServingAssemblyVersions();
        ModelZipRewrite.Replace(saved, other, current, missing);

        string image = Path.Combine(folder, "a.png");
        File.WriteAllBytes(image, [137, 80, 78, 71]);

        var result = Cli.Run("predict", "--model", other, image);
        Assert.AreEqual(1, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, $"--model: Model '{other}' needs assembly '{missing}", result.ToString());
        AssertOneLine(result);
    }

    private static void AssertOneLine(CliResult result)
    {
        Assert.IsFalse(result.Error.Contains("   at ", StringComparison.Ordinal), result.ToString());
        var lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.IsTrue(lines.Length <= 2 && (lines.Length == 1 || lines[1].Contains("--verbose", StringComparison.Ordinal) || lines[1].StartsWith("Run 'mlnetcnn", StringComparison.Ordinal)), result.ToString());
    }

    private sealed class ScoreRow
    {
        [VectorType(2)]
        public float[] Score { get; set; } = [];
    }
}
