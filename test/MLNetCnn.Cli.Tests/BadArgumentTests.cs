using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators;

namespace MLNetCnn.Cli.Tests;

/// <summary>User errors: exit code 2 for a bad command line, 1 for missing input, a message that names the argument, and never a stack trace.</summary>
[TestClass]
public sealed class BadArgumentTests
{
    private static readonly string Output = Path.Combine(Path.GetTempPath(), $"mlnetcnn-cli-tests-{Environment.ProcessId}", "never-written");

    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    [DataRow(2, "unknown command 'frobnicate'", "frobnicate")]
    [DataRow(2, "--output is required", "train", "--data", "fashion-mnist-embedded")]
    [DataRow(2, "--data is required", "train", "--output", "x")]
    [DataRow(2, "--epochs expects a whole number", "train", "--data", "fashion-mnist-embedded", "--output", "x", "--epochs", "abc")]
    [DataRow(2, "--lr expects a number above 0", "train", "--data", "fashion-mnist-embedded", "--output", "x", "--lr", "-1")]
    [DataRow(2, "--channels expects one of 1, 3; got '2'", "train", "--data", "d", "--output", "x", "--channels", "2")]
    [DataRow(2, "--recipe expects one of", "train", "--data", "d", "--output", "x", "--recipe", "magic")]
    [DataRow(2, "Unknown architecture 'resnet19'. Did you mean", "train", "--data", "d", "--output", "x", "--arch", "resnet19")]
    [DataRow(2, "'train' has no option '--bogus'", "train", "--data", "d", "--output", "x", "--bogus", "1")]
    [DataRow(2, "--epochs needs a value", "train", "--data", "d", "--output", "x", "--epochs")]
    [DataRow(2, "Fashion-MNIST images are 28 x 28 grey", "train", "--data", "fashion-mnist", "--output", "x", "--image-size", "64")]
    [DataRow(2, "--augment: Augmentation 'flip,wobble': unknown augmentation 'wobble'", "train", "--data", "d", "--output", "x", "--augment", "flip,wobble")]
    [DataRow(2, "shift takes a whole number of pixels from 1 to 1024; found '1.5'", "train", "--data", "d", "--output", "x", "--augment", "shift=1.5")]
    [DataRow(2, "inception_v3 cannot be built with these options", "train", "--data", "not-read-first", "--output", "x", "--arch", "inception_v3", "--width", "0.25")]
    [DataRow(2, "the input is too small for this architecture", "train", "--data", "not-read-first", "--output", "x", "--arch", "vgg11", "--image-size", "8")]
    [DataRow(2, "--width expects a number from 0.0625 to 16; got '1e-320'", "train", "--data", "not-read-first", "--output", "x", "--width", "1e-320")]
    [DataRow(2, "--width expects a number from 0.0625 to 16; got '1e-320'", "summary", "resnet18", "--width", "1e-320")]
    [DataRow(2, "training needs at least", "train", "--data", "not-read-first", "--output", "x", "--arch", "resnet152", "--width", "16")]
    [DataRow(1, "--output: 'MLNetCnn.Cli.Tests.dll' is a file; give a folder", "train", "--data", "fashion-mnist-embedded", "--output", "MLNetCnn.Cli.Tests.dll")]
    [DataRow(1, "--model: '.' is a folder; give the model.zip in it", "predict", "--model", ".", "a.png")]
    [DataRow(1, "--data: 'MLNetCnn.Cli.Tests.dll' is a file, not a folder", "train", "--data", "MLNetCnn.Cli.Tests.dll", "--output", "x")]
    [DataRow(2, "--test-time-flip is a switch (true or false); got 'yes'", "train", "--data", "d", "--output", "x", "--test-time-flip=yes")]
    [DataRow(2, "--time-limit: '10' is not a duration: write a number with a unit", "train", "--data", "d", "--output", "x", "--time-limit", "10")]
    [DataRow(2, "--time-limit: '0m' is not a duration above zero", "train", "--data", "d", "--output", "x", "--time-limit", "0m")]
    [DataRow(2, "give one or more image files", "predict", "--model", "model.zip")]
    [DataRow(2, "--top expects a whole number >= 1", "predict", "--model", "model.zip", "--top", "0", "a.png")]
    [DataRow(2, "expected one architecture name", "summary")]
    [DataRow(2, "Unknown architecture 'resnet5'", "summary", "resnet5")]
    [DataRow(2, "--size expects a whole number from 8 to 1024; got '4096'", "summary", "resnet18", "--size", "4096")]
    [DataRow(2, "--image-size expects a whole number from 8 to 1024; got '2'", "train", "--data", "d", "--output", "x", "--image-size", "2")]
    [DataRow(2, "unexpected argument 'extra'", "list", "extra")]
    [DataRow(2, "--output 'photos/run' is inside --data 'photos': its pictures (loss.png, accuracy.png, confusion.png) would be read as images of a class by the next run", "train", "--data", "photos", "--output", "photos/run")]
    [DataRow(2, "--output 'photos/cat/../..' is the same folder as --data '.'", "train", "--data", ".", "--output", "photos/cat/../..")]
    [DataRow(2, "--test-data 'photos/test' is inside --data 'photos': its images would be trained on as well as tested on", "train", "--data", "photos", "--output", "runs", "--test-data", "photos/test")]
    [DataRow(2, "--test-data 'photos/' is the same folder as --data 'photos'", "train", "--data", "photos", "--output", "runs", "--test-data", "photos/")]
    [DataRow(2, "--output 'tests/run' is inside --test-data 'tests/'", "train", "--data", "photos", "--output", "tests/run", "--test-data", "tests/")]
    [DataRow(1, "--data: folder 'hidden-runs' does not exist", "train", "--data", "hidden-runs", "--output", "hidden-runs/.runs/1")]
    [DataRow(1, "--data: folder 'photos-only' does not exist", "train", "--data", "photos-only", "--output", "photos-only-runs")]
    public void ABadCommandLineExitsTwoAndSaysWhatWasExpected(int exitCode, string message, params string[] args)
    {
        var result = Cli.Run(args);
        Assert.AreEqual(exitCode, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, message, result.ToString());
        Assert.IsFalse(result.Error.Contains("   at ", StringComparison.Ordinal), result.Error);
    }

    /// <summary>Found by an outside sweep: the check compared the paths as written, so an --output reached through a link into --data got past it.</summary>
    [TestMethod]
    public void AnOutputReachedThroughALinkIntoTheDataIsRefused()
    {
        string data = Cli.TempFolder("linked-data");
        string outside = Cli.TempFolder("linked-elsewhere");
        string link = Path.Combine(outside, "into-data");
        Directory.CreateSymbolicLink(link, data);
        var result = Cli.Run("train", "--data", data, "--output", Path.Combine(link, "run"));
        Assert.AreEqual(2, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "is inside --data", result.ToString());
        Assert.IsFalse(Directory.Exists(Path.Combine(data, "run")), result.ToString());
    }

    [TestMethod]
    public void AMissingDataFolderExitsOneAndNamesIt()
    {
        var result = Cli.Run("train", "--data", "/no/such/folder", "--output", Output);
        Assert.AreEqual(1, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "folder '/no/such/folder' does not exist");
        Assert.IsFalse(result.Error.Contains("   at ", StringComparison.Ordinal), result.Error);

        // A mistyped folder name left an empty --output behind; the folders are checked before it is created.
        string output = Path.Combine(Cli.TempFolder("typo"), "new-run");
        string images = Cli.TempFolder("typo-images");
        GeneratedImages.Write(images, perClass: 2, seed: 1);
        foreach (var args in new[] { new[] { "--data", images + "-typo" }, ["--data", images, "--test-data", images + "-test-typo"] })
        {
            var typo = Cli.Run(["train", .. args, "--output", output]);
            Assert.AreEqual(1, typo.ExitCode, typo.ToString());
            StringAssert.Contains(typo.Error, "-typo' does not exist", typo.ToString());
            Assert.IsFalse(Directory.Exists(output), typo.ToString());
        }
    }

    [TestMethod]
    public void AFolderWithoutClassFoldersExitsOneAndSaysWhatItNeeds()
    {
        string empty = Cli.TempFolder("empty-data");
        var result = Cli.Run("train", "--data", empty, "--output", Output);
        Assert.AreEqual(1, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "needs at least two class sub-folders");
    }

    [TestMethod]
    public void AMissingModelExitsOne()
    {
        string image = Path.Combine(Cli.TempFolder("one-image"), "a.png");
        File.WriteAllBytes(image, [1, 2, 3]);
        var result = Cli.Run("predict", "--model", "/no/such/model.zip", image);
        Assert.AreEqual(1, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "'/no/such/model.zip' does not exist");
    }

    [TestMethod]
    public void AFileThatIsNotAModelExitsOne()
    {
        string folder = Cli.TempFolder("not-a-model");
        string model = Path.Combine(folder, "model.zip");
        File.WriteAllText(model, "not a zip");
        var result = Cli.Run("predict", "--model", model, folder);
        Assert.AreEqual(1, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "model.zip");
        Assert.IsFalse(result.Error.Contains("   at ", StringComparison.Ordinal), result.Error);
    }

    [TestMethod]
    [DataRow("predict")]
    [DataRow("evaluate")]
    public void AModelSavedWithoutItsInputSchemaExitsOneSayingHowToSaveIt(string command)
    {
        // Model.Save(model, null, path) is lawful ML.NET; predict and evaluate then failed with a NullReferenceException.
        string folder = Cli.TempFolder("schemaless-" + command);
        string model = Path.Combine(folder, "model.zip");
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 8).Select(i => new PixelRow { Label = i % 2 == 0 ? "checks" : "discs", Features = Enumerable.Repeat((float)(i % 2 * 200), 64).ToArray() }));
        data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
        var options = new ImageClassificationTrainer.Options { Arch = "resnet18", WidthMultiplier = 0.125, ImageShape = new ImageShape(1, 8, 8), Epoch = 1, BatchSize = 4 };
        using (var trained = ml.Cnn().ImageClassification(options).Fit(data))
        {
            ml.Model.Save(trained, null, model);
        }

        GeneratedImages.Write(Path.Combine(folder, "images"), perClass: 1, seed: 1);
        string images = Path.Combine(folder, "images");
        var result = command == "predict" ? Cli.Run(command, "--model", model, images) : Cli.Run(command, "--model", model, "--data", images);
        Assert.AreEqual(1, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Error, "saved without its input schema");
        StringAssert.Contains(result.Error, "trainData.Schema");
        Assert.IsFalse(result.Error.Contains("   at ", StringComparison.Ordinal), result.Error);
    }

    private sealed class PixelRow
    {
        public string Label { get; set; } = string.Empty;

        [VectorType(64)]
        public float[] Features { get; set; } = [];
    }

    [TestMethod]
    [DataRow("--help")]
    [DataRow("help")]
    public void HelpListsTheCommands(string help)
    {
        var result = Cli.Run(help);
        Assert.AreEqual(0, result.ExitCode);
        foreach (string command in new[] { "train", "predict", "summary", "list" })
        {
            StringAssert.Contains(result.Output, command);
        }
    }

    /// <summary>
    /// Found by an outside sweep: the installed tool had no way to say which version it was ('mlnetcnn --version' was
    /// "unknown command", exit 2), so a user could not tell which build wrote a model.zip or match the serving package to it.
    /// </summary>
    [TestMethod]
    public void VersionPrintsThePackageVersionWithItsCommit()
    {
        var result = Cli.Run("--version");
        Assert.AreEqual(0, result.ExitCode, result.ToString());
        string version = typeof(CliApp).Assembly.GetName().Version!.ToString(3);
        StringAssert.Matches(result.Output, new System.Text.RegularExpressions.Regex($@"^mlnetcnn {System.Text.RegularExpressions.Regex.Escape(version)}\S*\r?\n$"), result.ToString());
        StringAssert.Contains(Cli.Run("--help").Output, "mlnetcnn --version");
    }

    [TestMethod]
    [DataRow("train", "--validation-fraction", "train", "--help")]
    [DataRow("predict", "--top", "help", "predict")]
    [DataRow("summary", "--small-input-stem", "summary", "-h")]
    public void EachCommandHasHelp(string command, string option, params string[] args)
    {
        var result = Cli.Run(args);
        Assert.AreEqual(0, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Output, "Usage: mlnetcnn " + command);
        StringAssert.Contains(result.Output, option);
    }

    [TestMethod]
    public void NoArgumentsPrintsUsageAndExitsTwo()
    {
        var result = Cli.Run();
        Assert.AreEqual(2, result.ExitCode);
        StringAssert.Contains(result.Error, "Usage: mlnetcnn <command>");
    }
}
