using System.Text.Json;

namespace MLNetCnn.Cli.Tests;

/// <summary>
/// <c>train</c> on a folder says what it left out (files ignored by extension, images that did not decode, class folders
/// without images) on the console, in metrics.json and in report.html; before, only undecodable files were printed.
/// </summary>
[TestClass]
public sealed class FolderLeftOutTests
{
    [ClassCleanup]
    public static void Cleanup() => Cli.DeleteTempFolders();

    [TestMethod]
    public void TrainNamesWhatItLeftOut()
    {
        string data = Cli.TempFolder("left-out");
        GeneratedImages.Write(data, perClass: 4, seed: 5);
        File.Copy(Directory.GetFiles(Path.Combine(data, "discs"))[0], Path.Combine(data, "discs", "scan.tif"));
        File.Copy(Directory.GetFiles(Path.Combine(data, "stripes"))[0], Path.Combine(data, "stripes", "noext"));
        File.WriteAllText(Path.Combine(data, "checks", "notes.png"), "not a picture");
        Directory.CreateDirectory(Path.Combine(data, "empty"));
        string output = Cli.TempFolder("left-out-run");

        var result = Cli.Run("train", "--data", data, "--output", output, "--epochs", "1", "--image-size", "8", "--width", "0.25", "--batch", "4", "--validation-fraction", "0.25");
        Assert.AreEqual(0, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Output, "2 files ignored (not images by their extension, or outside a class folder)", result.ToString());
        StringAssert.Contains(result.Output, "scan.tif", result.ToString());
        StringAssert.Contains(result.Output, "1 class folder without images, not a class: " + Path.Combine(data, "empty"), result.ToString());

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        var summary = json.RootElement.GetProperty("data");
        Assert.AreEqual(2, summary.GetProperty("ignoredFiles").GetProperty("count").GetInt32());
        CollectionAssert.AreEqual(
            new[] { Path.Combine(data, "discs", "scan.tif"), Path.Combine(data, "stripes", "noext") },
            summary.GetProperty("ignoredFiles").GetProperty("names").EnumerateArray().Select(e => e.GetString()).ToList());
        Assert.AreEqual(1, summary.GetProperty("skippedImages").GetProperty("count").GetInt32());
        StringAssert.Contains(summary.GetProperty("skippedImages").GetProperty("names")[0].GetString(), "notes.png");
        Assert.AreEqual(Path.Combine(data, "empty"), summary.GetProperty("emptyClassFolders").GetProperty("names")[0].GetString());

        string report = File.ReadAllText(Path.Combine(output, "report.html"));
        StringAssert.Contains(report, "<td>left out</td>");
        StringAssert.Contains(report, "1 image(s) that did not decode");
        StringAssert.Contains(report, "scan.tif");
    }

    [TestMethod]
    public void ImagesInFormatsNotDecodedAreCountedAndWhatToDoSaid()
    {
        // Found by an outside sweep: a phone's folder of .heic photos was "files ignored (not images by their extension)"
        // and "a class folder without images, not a class": the class was dropped with no word on why or what to do.
        string data = Cli.TempFolder("unread-formats");
        GeneratedImages.Write(data, perClass: 4, seed: 13);
        Directory.CreateDirectory(Path.Combine(data, "phone"));
        File.WriteAllBytes(Path.Combine(data, "phone", "IMG_0001.HEIC"), [0, 0, 0, 24]);
        File.WriteAllBytes(Path.Combine(data, "phone", "IMG_0002.heic"), [0, 0, 0, 24]);
        File.Copy(Directory.GetFiles(Path.Combine(data, "discs"))[0], Path.Combine(data, "discs", "download.jfif"));
        File.WriteAllText(Path.Combine(data, "discs", "notes.txt"), "not an image");

        var result = Cli.Run("train", "--data", data, "--output", Cli.TempFolder("unread-formats-run"), "--epochs", "1", "--image-size", "8", "--width", "0.25", "--batch", "4", "--validation-fraction", "0.25");
        Assert.AreEqual(0, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Output, "4 files ignored", result.ToString());
        StringAssert.Contains(result.Output, "3 of the files ignored are images in a format not decoded here (.heic: 2, .jfif: 1): convert them to JPEG or PNG (a .jfif or .jpe file is a JPEG: renaming it .jpg is enough).", result.ToString());
        StringAssert.Contains(result.Output, "1 class folder without images, not a class: " + Path.Combine(data, "phone"), result.ToString());
    }

    [TestMethod]
    public void ATinyValidationFractionIsPrintedAsGivenWithTheOneImageRule()
    {
        // Found by an outside sweep: 1e-320 printed "validation split (0 % of each class)" while 3 images were held out.
        string data = Cli.TempFolder("tiny-fraction");
        GeneratedImages.Write(data, perClass: 4, seed: 7);
        var result = Cli.Run("train", "--data", data, "--output", Cli.TempFolder("tiny-fraction-run"), "--epochs", "1", "--image-size", "8", "--width", "0.25", "--batch", "4", "--validation-fraction", "1e-320");
        Assert.AreEqual(0, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Output, "9 training and 3 held-out images (validation split (1E-318 % of each class, at least 1 image of each class with 2 or more))", result.ToString());
    }

    [TestMethod]
    public void NamesWithControlCharactersArePrintedAsEscapes()
    {
        // Found by an outside sweep: macOS's "Icon\r" file (a folder's custom icon) was printed raw in the "ignored" line,
        // sending the cursor back over it, and a file name with a newline split a "skipped:" line in two.
        string data = Cli.TempFolder("control-names");
        GeneratedImages.Write(data, perClass: 4, seed: 9);
        File.WriteAllBytes(Path.Combine(data, "discs", "Icon\r"), []);
        File.WriteAllText(Path.Combine(data, "checks", "bad\nname.png"), "not a picture");
        string output = Cli.TempFolder("control-names-run");

        var result = Cli.Run("train", "--data", data, "--output", output, "--epochs", "1", "--image-size", "8", "--width", "0.25", "--batch", "4", "--validation-fraction", "0.25");
        Assert.AreEqual(0, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Output, Path.Combine(data, "discs", "Icon") + "\\r", result.ToString());
        StringAssert.Contains(result.Output, "bad\\nname.png", result.ToString());
        Assert.IsFalse(result.Output.Contains('\r'), result.Output);
        Assert.IsFalse(result.Output.Split('\n').Any(line => line.StartsWith("name.png", StringComparison.Ordinal)), result.Output);

        var evaluated = Cli.Run("evaluate", "--model", Path.Combine(output, "model.zip"), "--data", data);
        StringAssert.Contains(evaluated.Error, "Icon\\r", evaluated.ToString());
        StringAssert.Contains(evaluated.Error, "skipped: The image '" + Path.Combine(data, "checks", "bad") + "\\nname.png'", evaluated.ToString());
        Assert.IsFalse(evaluated.Error.Contains('\r'), evaluated.Error);
    }
}
