using System.Text;
using Microsoft.ML;
using MLNetCnn.Serving;
using MLNetCnn.TestSupport;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// What an image folder's reading leaves out is said, never silent: files ignored by extension and empty class folders
/// are named, a folder that cannot be read is an error naming it, and class folder names that would print wrongly or
/// identically are refused.
/// </summary>
[TestClass]
public sealed class ImageFolderLeftOutTests
{
    private string _root = string.Empty;

    [TestInitialize]
    public void CreateRoot() => _root = Directory.CreateTempSubdirectory("mlnetcnn-leftout-").FullName;

    [TestCleanup]
    public void DeleteRoot()
    {
        if (!OperatingSystem.IsWindows())
        {
            // Class folders first: a folder of mode 000 hides its sub-folders from this user.
            foreach (string folder in new[] { Path.Combine(_root, "b"), Path.Combine(_root, "b", "more") }.Where(Directory.Exists))
            {
                File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        Directory.Delete(_root, recursive: true);
    }

    private string Class(string name, int images)
    {
        string folder = Path.Combine(_root, name);
        Directory.CreateDirectory(folder);
        for (int i = 0; i < images; i++)
        {
            File.WriteAllBytes(Path.Combine(folder, $"{i}.png"), ImageFolderWalkTests.Png((byte)(40 * i)));
        }

        return folder;
    }

    [TestMethod]
    public void IgnoredFilesAndEmptyClassFoldersAreNamed()
    {
        Class("a", 2);
        string b = Class("b", 2);
        string c = Class("c", 0);
        File.WriteAllBytes(Path.Combine(c, "scan.tif"), ImageFolderWalkTests.Png(9));
        File.WriteAllBytes(Path.Combine(b, "noext"), ImageFolderWalkTests.Png(9));
        File.WriteAllText(Path.Combine(_root, "readme.txt"), "classes a and b");
        Class("empty", 0);

        var data = ImageFolder.Load(new MLContext(), _root);
        CollectionAssert.AreEqual(new[] { "a", "b" }, data.ClassNames.ToList());
        CollectionAssert.AreEqual(new[] { Path.Combine(b, "noext"), Path.Combine(c, "scan.tif"), Path.Combine(_root, "readme.txt") }, data.Ignored.ToList());
        CollectionAssert.AreEqual(new[] { c, Path.Combine(_root, "empty") }, data.EmptyClassFolders.ToList());

        var listing = ImageFolder.ListFiles(b);
        Assert.AreEqual(2, listing.Images.Count);
        CollectionAssert.AreEqual(new[] { Path.Combine(b, "noext") }, listing.Ignored.ToList());
    }

    [TestMethod]
    public void AnUnreadableClassFolderIsAnErrorNamingIt()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Inconclusive("Unix permissions.");
            return;
        }

        Class("a", 2);
        Class("b", 2);
        string hidden = Class(Path.Combine("b", "more"), 1);
        File.SetUnixFileMode(hidden, UnixFileMode.None);

        // Root (CI) reads a folder of mode 000 unless its permission overrides are lowered, as FilePermissions does.
        Assert.IsFalse(FilePermissions.Enforced(() => CanList(hidden)), "a folder of mode 000 must be unreadable here");

        // Before, the walk skipped it (IgnoreInaccessible) and a class folder of mode 000 trained a model without that class.
        var e = Assert.ThrowsExactly<UnauthorizedAccessException>(() => FilePermissions.Enforced(() => ImageFolder.Load(new MLContext(), _root)));
        StringAssert.Contains(e.Message, $"'{hidden}'");
        File.SetUnixFileMode(Path.Combine(_root, "b"), UnixFileMode.None);
        e = Assert.ThrowsExactly<UnauthorizedAccessException>(() => FilePermissions.Enforced(() => ImageFolder.Load(new MLContext(), _root)));
        StringAssert.Contains(e.Message, $"'{Path.Combine(_root, "b")}'");
    }

    [TestMethod]
    public void AClassFolderNameWithAControlCharacterIsRefused()
    {
        Class("a", 2);
        Class("new\nline", 2);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(new MLContext(), _root));
        StringAssert.Contains(e.Message, "'new\\nline'");
        StringAssert.Contains(e.Message, "control character");
        Assert.IsFalse(e.Message.Contains('\n'), e.Message);
    }

    [TestMethod]
    public void ClassFoldersEqualAfterNormalizationAreRefused()
    {
        string composed = "caf\u00e9".Normalize(NormalizationForm.FormC);
        string decomposed = "caf\u00e9".Normalize(NormalizationForm.FormD);
        Class("a", 2);
        Class(composed, 2);
        Class(decomposed, 2);
        if (Directory.GetDirectories(_root).Length < 3)
        {
            Assert.Inconclusive("This file system normalizes names (macOS): the two folders are one.");
        }

        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(new MLContext(), _root));
        StringAssert.Contains(e.Message, "caf\\u00e9");
        StringAssert.Contains(e.Message, "cafe\\u0301");
        StringAssert.Contains(e.Message, "Unicode normalization");
        Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.LoadLabelled(new MLContext(), _root, ["a", composed]));
    }

    private static bool CanList(string folder)
    {
        try
        {
            _ = Directory.GetFileSystemEntries(folder);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
