using MLNetCnn.Tricks.Data;

namespace MLNetCnn.Tricks.Tests;

/// <summary>
/// <see cref="PixelStatistics"/> is a record holding arrays: by default two records of the same values compared unequal
/// (the arrays' identity) and printed "Mean = System.Single[]".
/// </summary>
[TestClass]
public sealed class PixelStatisticsTests
{
    [TestMethod]
    public void StatisticsOfTheSameValuesAreEqualAndPrintTheirValues()
    {
        var a = new PixelStatistics([0.5f, 0.25f], [0.1f, 0.2f], 0f, 1f);
        var b = new PixelStatistics([0.5f, 0.25f], [0.1f, 0.2f], 0f, 1f);

        Assert.AreEqual(a, b);
        Assert.IsTrue(a == b);
        Assert.AreEqual(a.GetHashCode(), b.GetHashCode());
        Assert.AreEqual("PixelStatistics { Mean = [0.5, 0.25], Std = [0.1, 0.2], Min = 0, Max = 1 }", a.ToString());
    }

    [TestMethod]
    public void StatisticsThatDifferInAnyValueAreNotEqual()
    {
        var a = new PixelStatistics([0.5f, 0.25f], [0.1f, 0.2f], 0f, 1f);

        Assert.AreNotEqual(a, a with { Mean = [0.5f, 0.26f] });
        Assert.AreNotEqual(a, a with { Std = [0.1f] });
        Assert.AreNotEqual(a, a with { Min = -1f });
        Assert.AreNotEqual(a, a with { Max = 255f });
        Assert.IsFalse(a.Equals(null));
    }
}
