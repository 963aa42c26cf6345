using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Serving;
using SkiaSharp;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// How an image folder is walked (<see cref="ImageFolder.FindImageFiles"/>): links to folders are followed once, so a
/// loop neither repeats nor mislabels images; hidden names are left out; a link to a FIFO is never opened.
/// </summary>
[TestClass]
public sealed class ImageFolderWalkTests
{
    private string _root = string.Empty;

    [TestInitialize]
    public void CreateRoot() => _root = Directory.CreateTempSubdirectory("mlnetcnn-walk-").FullName;

    [TestCleanup]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);

    [TestMethod]
    public void ALinkToAnAncestorAddsNothingAndMislabelsNothing()
    {
        RequireUnix();
        WriteImages("x", 5, 40);
        WriteImages("y", 5, 200);
        Directory.CreateSymbolicLink(Path.Combine(_root, "x", "loop"), "..");
        Directory.CreateSymbolicLink(Path.Combine(_root, "y", "self"), ".");

        var files = ImageFolder.FindImageFiles(Path.Combine(_root, "x"));
        Assert.AreEqual(5, files.Count, string.Join('\n', files));
        Assert.IsTrue(files.All(f => Path.GetFileName(Path.GetDirectoryName(f)) == "x"), string.Join('\n', files));

        // Before, EnumerateFiles followed the loop until the OS refused: 410 rows from 10 files, 200 of y's labelled x.
        var ml = new MLContext();
        var data = ImageFolder.Load(ml, _root);
        Assert.AreEqual(10, data.ImageCount);
        var paths = data.Data.GetColumn<string>(ImageFolder.ImagePathColumnName).ToList();
        var labels = data.Data.GetColumn<uint>("Label").Select(k => data.ClassNames[(int)k - 1]).ToList();
        for (int i = 0; i < paths.Count; i++)
        {
            Assert.AreEqual(labels[i], Path.GetFileName(Path.GetDirectoryName(paths[i])), paths[i]);
        }
    }

    /// <summary>
    /// Found by an outside sweep: <c>dog/catlink -> ../cat</c> gave cat's images a second row labelled dog (train and
    /// evaluate counted them under both classes; predict, reading each real folder once, listed them once), and a class
    /// folder that is a link to another (<c>kitty -> cat</c>) made a third class of the same files.
    /// </summary>
    [TestMethod]
    public void AFolderReachedFromTwoClassesIsAnErrorNamingTheLink()
    {
        RequireUnix();
        WriteImages("cat", 3, 40);
        WriteImages("dog", 3, 200);
        var ml = new MLContext();
        var classes = new[] { "cat", "dog" };

        string link = Path.Combine(_root, "dog", "catlink");
        Directory.CreateSymbolicLink(link, Path.Combine("..", "cat"));
        foreach (var load in new Func<ImageFolderData>[] { () => ImageFolder.Load(ml, _root), () => ImageFolder.LoadLabelled(ml, _root, classes) })
        {
            var e = Assert.ThrowsExactly<InvalidDataException>(() => load());
            StringAssert.Contains(e.Message, $"Folder '{link}' (a link to '{Path.Combine(_root, "cat")}'), read for class 'dog', is also read for class 'cat'");
            StringAssert.Contains(e.Message, "would carry both labels");
        }

        Directory.Delete(link);
        string kitty = Path.Combine(_root, "kitty");
        Directory.CreateSymbolicLink(kitty, "cat");
        var twin = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(ml, _root));
        StringAssert.Contains(twin.Message, $"Folder '{kitty}' (a link to '{Path.Combine(_root, "cat")}'), read for class 'kitty', is also read for class 'cat'");

        // A link within one class to that class's own images, or a class folder linked from outside, is read once, as before.
        Directory.Delete(kitty);
        Directory.CreateSymbolicLink(Path.Combine(_root, "dog", "again"), ".");
        Directory.CreateSymbolicLink(Path.Combine(_root, "cat", "sub"), Path.Combine(_root, "cat"));
        Assert.AreEqual(6, ImageFolder.Load(ml, _root).ImageCount);
    }

    [TestMethod]
    public void ALinkedFolderIsReadOnceAndALinkedFileIsListed()
    {
        RequireUnix();
        WriteImages("a", 2, 40);
        string elsewhere = Path.Combine(_root, "..", Path.GetFileName(_root) + "-outside");
        Directory.CreateDirectory(elsewhere);
        try
        {
            File.WriteAllBytes(Path.Combine(elsewhere, "far.png"), Png(9));
            Directory.CreateSymbolicLink(Path.Combine(_root, "a", "more"), elsewhere);
            Directory.CreateSymbolicLink(Path.Combine(_root, "a", "more-again"), elsewhere);
            File.CreateSymbolicLink(Path.Combine(_root, "a", "linked.png"), Path.Combine(_root, "a", "0.png"));

            var files = ImageFolder.FindImageFiles(Path.Combine(_root, "a")).Select(f => Path.GetRelativePath(Path.Combine(_root, "a"), f)).ToList();
            CollectionAssert.AreEqual(new[] { "0.png", "1.png", "linked.png", "more/far.png" }, files);
        }
        finally
        {
            Directory.Delete(elsewhere, recursive: true);
        }
    }

    [TestMethod]
    public void HiddenFoldersAndFilesAreNotClassesOrImages()
    {
        WriteImages("cat", 2, 40);
        WriteImages("dog", 2, 200);
        WriteImages(".ipynb_checkpoints", 2, 90);
        File.WriteAllBytes(Path.Combine(_root, "cat", "._0.png"), [0, 5, 22, 7]); // a macOS resource file, not a PNG
        Directory.CreateDirectory(Path.Combine(_root, "dog", ".thumbnails"));
        File.WriteAllBytes(Path.Combine(_root, "dog", ".thumbnails", "t.png"), Png(3));

        var data = ImageFolder.Load(new MLContext(), _root);
        CollectionAssert.AreEqual(new[] { "cat", "dog" }, data.ClassNames.ToList());
        Assert.AreEqual(4, data.ImageCount);
        Assert.AreEqual(0, data.Skipped.Count, string.Join('\n', data.Skipped));
    }

    [TestMethod]
    public void AnEmptyFolderNamingNoClassIsIgnoredByLoadLabelled()
    {
        WriteImages("cat", 2, 40);
        Directory.CreateDirectory(Path.Combine(_root, "empty class"));
        var data = ImageFolder.LoadLabelled(new MLContext(), _root, ["cat", "dog"]);
        Assert.AreEqual(2, data.ImageCount);

        WriteImages("bird", 1, 90);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.LoadLabelled(new MLContext(), _root, ["cat", "dog"]));
        StringAssert.Contains(e.Message, "'bird'");
        Assert.IsFalse(e.Message.Contains("empty class", StringComparison.Ordinal), e.Message);
    }

    [TestMethod]
    public void ALinkToAFifoIsRefusedWithoutOpeningIt()
    {
        RequireUnix();
        string fifo = Path.Combine(_root, "pipe");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", fifo))
        {
            mkfifo.WaitForExit();
        }

        string link = Path.Combine(_root, "linkpipe.png");
        File.CreateSymbolicLink(link, fifo);

        // Opening a FIFO for reading waits for a writer forever, so a decoder that opens it never returns.
        var decode = Task.Run(() => Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeFile(link)));
        Assert.IsTrue(decode.Wait(TimeSpan.FromSeconds(30)), "decoding a link to a FIFO hung");
        StringAssert.Contains(decode.Result.Message, "not a regular file");
        StringAssert.Contains(decode.Result.Message, "linkpipe.png");
    }

    [TestMethod]
    public void CheckingThreadsFollowTheDecodeLimitAndTheMemory()
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var previous = ImageDecodeLimit.Current;
        try
        {
            // Small images: every core (a quarter of any test machine's memory holds 8 MB per core).
            ImageDecodeLimit.Current = previous with { MaxPixels = 1_000_000 };
            Assert.AreEqual(Environment.ProcessorCount, ImageFolder.CheckingThreads());

            // At the largest limit one image may take 4.3 GB while it decodes: the threads' images fit in a quarter of
            // the memory (or there is one thread), fewer than the cores wherever that quarter is under 4.3 GB a core.
            ImageDecodeLimit.Current = previous with { MaxPixels = ImageDecodeLimit.LargestPossible };
            int threads = ImageFolder.CheckingThreads();
            Assert.IsTrue(threads == 1 || threads * ImageDecodeLimit.LargestPossible * 8 <= available / 4, $"{threads} threads, {available / 1e9:F1} GB available");
            if (available / 4 < Environment.ProcessorCount * ImageDecodeLimit.LargestPossible * 8)
            {
                Assert.IsTrue(threads < Environment.ProcessorCount, $"{threads} threads on {Environment.ProcessorCount} cores");
            }
        }
        finally
        {
            ImageDecodeLimit.Current = previous;
        }
    }

    [TestMethod]
    public void AFolderGivenAsAnImageIsNamedAsAFolder()
    {
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeFile(_root));
        StringAssert.Contains(e.Message, "it is a folder, not an image file");
    }

    [TestMethod]
    public void NamesThatAreNotUtf8AreNamedNotLost()
    {
        // Found by an outside sweep: a class folder named with a Latin-1 byte (a zip unpacked without UTF-8 names) failed
        // as "does not exist", predict skipped such a folder silently, and such a file was "missing".
        RequireUnix();
        WriteImages("a", 2, 40);
        WriteImages("b", 2, 200);
        try
        {
            Shell($"mkdir \"{_root}/c$(printf '\\376')\" && cp \"{_root}/a/0.png\" \"{_root}/c$(printf '\\376')/1.png\"");
            var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(new MLContext(), _root));
            StringAssert.Contains(e.Message, "'c\uFFFD', whose name is not valid UTF-8");

            Shell($"rm -r \"{_root}/c$(printf '\\376')\" && cp \"{_root}/a/0.png\" \"{_root}/a/x$(printf '\\377').png\"");
            var walk = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.FindImageFiles(Path.Combine(_root, "a")));
            StringAssert.Contains(walk.Message, "'x\uFFFD.png', whose name is not valid UTF-8");
            var decode = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeFile(Path.Combine(_root, "a", "x\uFFFD.png")));
            StringAssert.Contains(decode.Message, "not valid UTF-8");
        }
        finally
        {
            // .NET cannot delete what it cannot name.
            Shell($"rm -rf \"{_root}\"/*");
        }
    }

    private static void Shell(string command)
    {
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sh", ["-c", command]) { RedirectStandardError = true })!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.AreEqual(0, process.ExitCode, error);
    }

    private static void RequireUnix()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Inconclusive("Links and FIFOs are tested on Unix.");
        }
    }

    private void WriteImages(string folder, int count, byte grey)
    {
        Directory.CreateDirectory(Path.Combine(_root, folder));
        for (int i = 0; i < count; i++)
        {
            File.WriteAllBytes(Path.Combine(_root, folder, $"{i}.png"), Png((byte)(grey + i)));
        }
    }

    internal static byte[] Png(byte grey)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(6, 6, SKColorType.Gray8, SKAlphaType.Opaque));
        bitmap.Erase(new SKColor(grey, grey, grey));
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
