using MLNetCnn.Tricks.Schedules;
using MLNetCnn.Tricks.Training;

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

    [TestMethod]
    public void StepDecayDropsByTheFactorAtEachMilestone()
    {
        var step = new StepSchedule();
        Assert.AreEqual(0.1, step.Rate(0.1, 0, 120), 1e-12);
        Assert.AreEqual(0.1, step.Rate(0.1, 29, 120), 1e-12);
        Assert.AreEqual(0.01, step.Rate(0.1, 30, 120), 1e-12);
        Assert.AreEqual(0.001, step.Rate(0.1, 60, 120), 1e-12);
        Assert.AreEqual(0.0001, step.Rate(0.1, 119, 120), 1e-12);
    }

    [TestMethod]
    public void WarmupInEpochsUsesTheStepsPerEpoch()
    {
        // 5 warmup epochs of 10 steps, then cosine over the remaining 50 steps.
        var schedule = new CosineSchedule { WarmupEpochs = 5 };
        Assert.AreEqual(0.1 / 50, schedule.Rate(0.1, 0, 100, 10), 1e-12);
        Assert.AreEqual(0.1 * 25 / 50, schedule.Rate(0.1, 24, 100, 10), 1e-12);
        Assert.AreEqual(0.1, schedule.Rate(0.1, 50, 100, 10), 1e-12);
        Assert.AreEqual(0.05, schedule.Rate(0.1, 75, 100, 10), 1e-12);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => schedule.Rate(0.1, 0, 100));
        Assert.AreEqual(0.1 * 3 / 4, new StepSchedule { WarmupSteps = 4 }.Rate(0.1, 2, 100), 1e-12);
    }

    [TestMethod]
    public void LinearScalingIsProportionalToTheBatch()
    {
        Assert.AreEqual(0.1, LearningRateScaling.Linear(0.1, 256), 1e-12);
        Assert.AreEqual(0.4, LearningRateScaling.Linear(0.1, 1024), 1e-12);
        Assert.AreEqual(0.025, LearningRateScaling.Linear(0.1, 64), 1e-12);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => LearningRateScaling.Linear(0.1, 0));
    }

    [TestMethod]
    public void SettingsThatGiveANegativeOrNaNRateAreRefusedByTheOptions()
    {
        // From an outside API sweep: FinalRate -1 and Factor -1 trained at negative rates, Momentum NaN gave a NaN model.
        var bad = new (TrainerOptions Options, string Name)[]
        {
            (new TrainerOptions { Schedule = new CosineSchedule { FinalRate = -1 } }, "FinalRate"),
            (new TrainerOptions { Schedule = new CosineSchedule { FinalRate = double.NaN } }, "FinalRate"),
            (new TrainerOptions { Schedule = new StepSchedule { Factor = -1 } }, "Factor"),
            (new TrainerOptions { Schedule = new StepSchedule { Milestones = [0.5, 1.5] } }, "Milestones"),
            (new TrainerOptions { Schedule = new ConstantSchedule { WarmupEpochs = -1 } }, "WarmupSteps"),
            (new TrainerOptions { Momentum = double.NaN }, "Momentum"),
        };
        foreach (var (options, name) in bad)
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => options.Validate(), name);
            Assert.AreEqual(name, e.ParamName);
        }

        Assert.ThrowsExactly<ArgumentNullException>(() => new TrainerOptions { Schedule = null! }.Validate());
        new TrainerOptions { Schedule = new StepSchedule { Factor = 0.5, Milestones = [0, 1] } }.Validate();
    }
}
