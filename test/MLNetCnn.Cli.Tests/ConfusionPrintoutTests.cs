using MLNetCnn.Cli.Commands;
using MLNetCnn.Cli.Output;

namespace MLNetCnn.Cli.Tests;

/// <summary><c>evaluate</c>'s console printout stays readable whatever the number of classes.</summary>
[TestClass]
public sealed class ConfusionPrintoutTests
{
    /// <summary>Each class right twice; class <c>k</c> mistaken for class <c>k + 1</c> <c>k % 5</c> times.</summary>
    private static FinalMetrics Metrics(int n)
    {
        var counts = Enumerable.Range(0, n)
            .Select(row => (IReadOnlyList<long>)Enumerable.Range(0, n).Select(column => row == column ? 2L : column == row + 1 ? row % 5 : 0L).ToList())
            .ToList();
        var perClass = Enumerable.Range(0, n).Select(k => new ClassMetrics($"class {k}", counts[k].Sum(), 2, 0.5, 0.5)).ToList();
        return new FinalMetrics("test", counts.Sum(r => r.Sum()), 0.5, 0.5, 1.0, 0.1, perClass, counts);
    }

    private static string[] Print(int n)
    {
        using var output = new StringWriter();
        Evaluation.Print(Metrics(n), output);
        return output.ToString().Split(Environment.NewLine);
    }

    [TestMethod]
    public void UpToTheLabelledLimitTheWholeMatrixIsPrinted()
    {
        var lines = Print(Charts.LabelledClasses);
        int heading = Array.IndexOf(lines, "Confusion matrix (rows: actual class, columns: predicted class):");
        Assert.IsGreaterThan(0, heading);

        // A heading row of class names, then one row per class with a count per class.
        var row = lines[heading + 2 + 3].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual("class 3", string.Join(' ', row.Take(2)));
        CollectionAssert.AreEqual(Metrics(Charts.LabelledClasses).ConfusionMatrix[3].Select(v => v.ToString()).ToList(), row.Skip(2).ToList());
    }

    [TestMethod]
    public void PastTheLimitTheMostFrequentMistakesArePrintedInstead()
    {
        // 1,700 classes printed a 1,700 x 1,700 table: some 20 MB of console output nobody could read.
        int n = 1_700;
        var lines = Print(n);
        Assert.IsFalse(lines.Any(l => l.StartsWith("Confusion matrix (rows", StringComparison.Ordinal)));
        Assert.IsLessThan(n + 40, lines.Length);
        Assert.IsTrue(lines.All(l => l.Length < 200), "no line is a matrix row");

        int heading = Array.FindIndex(lines, l => l.StartsWith("The confusion matrix has 1,700 classes", StringComparison.Ordinal));
        Assert.IsGreaterThan(0, heading, string.Join('\n', lines.TakeLast(30)));
        StringAssert.Contains(lines[heading], "1,359 kinds of mistake");
        var pairs = lines.Skip(heading + 1).Where(l => l.Contains(" predicted as ", StringComparison.Ordinal)).ToList();
        Assert.HasCount(Evaluation.MostConfusedPairs, pairs);

        // Rows 0 to 1,698 have a next class, and the 340 rows k % 5 == 0 make no mistake: 1,359 pairs. The most
        // frequent first (4 each: classes 4, 9, 14, ...), ties in class order.
        StringAssert.EndsWith(pairs[0], "4  class 4 predicted as class 5");
        StringAssert.EndsWith(pairs[1], "4  class 9 predicted as class 10");
        Assert.IsTrue(pairs.All(p => p.TrimStart().StartsWith('4')));
    }

    [TestMethod]
    public void WideAndCombiningCharactersInClassNamesKeepTheColumnsAligned()
    {
        // Padded by UTF-16 length, 猫 (two terminal columns, one char) got one space too many and café written with a
        // combining accent (four columns, five chars) one too few, so their counts stood out of line.
        string[] names = ["猫", "cafe\u0301", "bird"];
        var counts = names.Select((_, row) => (IReadOnlyList<long>)names.Select((_, column) => row == column ? 3L : 0L).ToList()).ToList();
        var perClass = names.Select(n => new ClassMetrics(n, 3, 3, 1.0, 1.0)).ToList();
        using var output = new StringWriter();
        Evaluation.Print(new FinalMetrics("test", 9, 1.0, 1.0, 0.0, 0.0, perClass, counts), output);
        var lines = output.ToString().Split(Environment.NewLine);

        // The per-class table: the name column is 5 terminal columns wide ("class"), then two spaces and the count.
        StringAssert.StartsWith(lines.Single(l => l.StartsWith("猫", StringComparison.Ordinal) && l.Contains('%')), "猫     " + "      3");
        StringAssert.StartsWith(lines.Single(l => l.StartsWith("cafe", StringComparison.Ordinal) && l.Contains('%')), "cafe\u0301   " + "      3");
        StringAssert.StartsWith(lines.Single(l => l.StartsWith("bird", StringComparison.Ordinal) && l.Contains('%')), "bird   " + "      3");

        // The matrix: cells 6 columns wide, behind a 7-column row-name margin.
        Assert.Contains("           猫   cafe\u0301   bird", lines);
        Assert.Contains("猫          3      0      0", lines);
        Assert.Contains("cafe\u0301        0      3      0", lines);
    }
}
