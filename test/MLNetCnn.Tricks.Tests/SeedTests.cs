using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Tricks.Tests;

/// <summary>
/// A fixed seed means the same run in every process: step and epoch seeds are pure arithmetic on
/// (seed, step or epoch). The golden values pin that: a per-process randomized hash (as
/// <c>HashCode.Combine</c> is, which the epoch shuffle used before) could not produce them twice.
/// </summary>
[TestClass]
public sealed class SeedTests
{
    [TestMethod]
    public void EpochAndStepSeedsAreTheSameInEveryProcess()
    {
        Assert.AreEqual(-511900241, ClassifierTrainer.EpochSeed(1, 1));
        Assert.AreEqual(680341636, ClassifierTrainer.EpochSeed(7, 3));
        Assert.AreEqual(unchecked((long)0x9E3779B97F4A7C15UL) + 5, TrainingStep.StepSeed(1, 5));
        Assert.AreNotEqual(ClassifierTrainer.EpochSeed(1, 1), ClassifierTrainer.EpochSeed(1, 2));

        // And the shuffle built on it (System.Random with an int seed keeps its sequence across .NET versions).
        var order = Enumerable.Range(0, 8).ToArray();
        new Random(ClassifierTrainer.EpochSeed(1, 1)).Shuffle(order);
        var again = Enumerable.Range(0, 8).ToArray();
        new Random(-511900241).Shuffle(again);
        CollectionAssert.AreEqual(again, order);
    }
}
