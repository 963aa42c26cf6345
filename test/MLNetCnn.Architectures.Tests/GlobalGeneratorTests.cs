using MLNetCnn.Architectures.Runtime;

namespace MLNetCnn.Architectures.Tests;

/// <summary>Training runs in one process take turns on libtorch's process-wide generator (<see cref="GlobalGenerator"/>).</summary>
[TestClass]
public sealed class GlobalGeneratorTests
{
    [TestMethod]
    public void ASecondRunWaitsSayingSoAndGoesOnWhenTheFirstEnds()
    {
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var first = new Thread(() =>
        {
            using var generator = GlobalGenerator.Take();
            using (GlobalGenerator.Take())
            {
                // re-entrant: the run that holds it may take it again
            }

            held.Set();
            release.Wait();
        });
        first.Start();
        held.Wait();

        var said = new List<string>();
        var second = Task.Run(() =>
        {
            using var generator = GlobalGenerator.Take(log: said.Add);
        });
        Assert.IsFalse(second.Wait(TimeSpan.FromMilliseconds(500)), "the second run waits");
        Assert.HasCount(1, said);
        StringAssert.Contains(said[0], "waits for it to end");

        // A wait can be cancelled.
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        Assert.ThrowsExactly<OperationCanceledException>(() => GlobalGenerator.Take(cancel.Token));

        release.Set();
        first.Join();
        Assert.IsTrue(second.Wait(TimeSpan.FromSeconds(10)), "the second run goes on once the first ends");
    }
}
