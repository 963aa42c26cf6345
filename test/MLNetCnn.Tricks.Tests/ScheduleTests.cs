using MLNetCnn.Tricks.Schedules;

[assembly: Parallelize(Workers = 1, Scope = ExecutionScope.ClassLevel)]

namespace MLNetCnn.Tricks.Tests;

[TestClass]
public sealed class ScheduleTests
{
    [TestMethod]
    public void CosineDecaysFromTheBaseRateToTheFinalRate()
    {
        var cosine = new CosineSchedule();
        Assert.AreEqual(0.1, cosine.Rate(0.1, 0, 100), 1e-12);
        Assert.AreEqual(0.05, cosine.Rate(0.1, 50, 100), 1e-12);
        Assert.AreEqual(0.1 * 0.5 * (1 + Math.Cos(Math.PI * 0.25)), cosine.Rate(0.1, 25, 100), 1e-12);
        Assert.AreEqual(0.0, cosine.Rate(0.1, 100, 100), 1e-12);
        Assert.AreEqual(0.01, new CosineSchedule { FinalRate = 0.01 }.Rate(0.1, 100, 100), 1e-12);
    }

    [TestMethod]
    public void WarmupRisesLinearlyThenCosineTakesOver()
    {
        var schedule = new CosineSchedule { WarmupSteps = 10 };
        Assert.AreEqual(0.01, schedule.Rate(0.1, 0, 110), 1e-12);
        Assert.AreEqual(0.05, schedule.Rate(0.1, 4, 110), 1e-12);
        Assert.AreEqual(0.1, schedule.Rate(0.1, 10, 110), 1e-12);
        Assert.AreEqual(0.05, schedule.Rate(0.1, 60, 110), 1e-12);
    }

    [TestMethod]
    public void ConstantIsConstant()
    {
        var constant = new ConstantSchedule();
        Assert.AreEqual(0.3, constant.Rate(0.3, 0, 10));
        Assert.AreEqual(0.3, constant.Rate(0.3, 9, 10));
    }
}
