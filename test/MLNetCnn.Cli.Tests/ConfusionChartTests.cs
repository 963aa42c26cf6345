using MLNetCnn.Cli.Output;
using SkiaSharp;

namespace MLNetCnn.Cli.Tests;

/// <summary><c>confusion.png</c> stays a bounded picture whatever the number of classes.</summary>
[TestClass]
public sealed class ConfusionChartTests
{
    private string _dir = string.Empty;

    [TestInitialize]
    public void CreateFolder() => _dir = Directory.CreateTempSubdirectory("mlnetcnn-confusion").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    private static (List<string> Names, List<IReadOnlyList<long>> Counts) Classes(int n, string name = "class") =>
        (Enumerable.Range(0, n).Select(i => $"{name} {i}").ToList(),
         Enumerable.Range(0, n).Select(row => (IReadOnlyList<long>)Enumerable.Range(0, n).Select(column => row == column ? 2L : (row + column) % 7 == 0 ? 1L : 0L).ToList()).ToList());

    private (bool Drawn, SKSizeI Size) Draw(int n, string name = "class")
    {
        string path = Path.Combine(_dir, $"confusion-{n}.png");
        var (names, counts) = Classes(n, name);
        bool drawn = Charts.ConfusionMatrix(path, "Confusion matrix", names, counts);
        Assert.AreEqual(drawn, File.Exists(path));
        if (!drawn)
        {
            return (false, default);
        }

        using var codec = SKCodec.Create(path);
        return (true, new SKSizeI(codec.Info.Width, codec.Info.Height));
    }

    [TestMethod]
    public void ManyClassesFitTheGridCap()
    {
        // 300 classes at the old minimum of 28 pixels a cell were 8,400 pixels square; 1,700 were 47,720.
        var (drawn, size) = Draw(Charts.MaxConfusionClasses);
        Assert.IsTrue(drawn);
        Assert.IsLessThanOrEqualTo(Charts.MaxConfusionGrid + 400, size.Width, size.ToString());
        Assert.IsLessThanOrEqualTo(Charts.MaxConfusionGrid + 200, size.Height, size.ToString());
    }

    [TestMethod]
    public void PastTheLimitNothingIsDrawn()
    {
        Assert.IsFalse(Draw(Charts.MaxConfusionClasses + 1).Drawn);
    }

    [TestMethod]
    public void FewClassesKeepReadableLabelledCellsAndLongNamesAreCut()
    {
        var (drawn, size) = Draw(10);
        Assert.IsTrue(drawn);
        Assert.IsGreaterThanOrEqualTo(480, size.Width - 100, size.ToString());

        // A 255-character folder name widened the picture by its full length, on both axes.
        var (_, longNames) = Draw(Charts.LabelledClasses, new string('x', 250));
        Assert.IsLessThanOrEqualTo(Charts.LabelledClasses * 28 + 600, longNames.Width, longNames.ToString());
        Assert.IsLessThanOrEqualTo(Charts.LabelledClasses * 28 + 600, longNames.Height, longNames.ToString());
    }

    [TestMethod]
    public void NamesInAScriptTheFontLacksStayDistinct()
    {
        // Found by an outside sweep: classes 猫 and 犬 were drawn as two identical empty boxes. The rows here are alike
        // but for their names, so their bands of the picture (right of the rotated "actual", inside the grid's lines) differ only if the names do.
        string path = Path.Combine(_dir, "cjk.png");
        Assert.IsTrue(Charts.ConfusionMatrix(path, "Confusion matrix", ["\u732b", "\u72ac"], [[1, 1], [1, 1]]));
        using var bitmap = SKBitmap.Decode(path);
        const int top = 84, cell = 64; // the grid's top and a cell's side for 2 classes
        string Band(int row) => string.Concat(Enumerable.Range(top + (row * cell) + 2, cell - 4).SelectMany(y => Enumerable.Range(30, bitmap.Width - 30).Select(x => bitmap.GetPixel(x, y).ToString())));
        Assert.AreNotEqual(Band(0), Band(1));
    }
}
