using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Cli.Tests;

/// <summary><c>list</c> and <c>summary</c> report the registry's numbers.</summary>
[TestClass]
public sealed class ZooTests
{
    [TestMethod]
    public void ListNamesEveryRegisteredArchitecture()
    {
        var result = Cli.Run("list");
        Assert.AreEqual(0, result.ExitCode, result.ToString());
        var firstColumn = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(2).Select(l => l.Split(' ')[0]).ToList();
        CollectionAssert.AreEqual(ModelRegistry.Names.ToList(), firstColumn);
        StringAssert.Contains(result.Output, "25,557,032");
    }

    [TestMethod]
    public void SummaryOfResNet50HasTorchvisionsParameterCount()
    {
        var result = Cli.Run("summary", "resnet50");
        Assert.AreEqual(0, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Output, "Total params: 25,557,032");
        StringAssert.Contains(result.Output, "layer4");
    }

    [TestMethod]
    public void SummaryTakesTheTrainingShape()
    {
        var result = Cli.Run("summary", "resnet18", "--size", "28", "--channels", "1", "--classes", "10", "--width", "0.25");
        Assert.AreEqual(0, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Output, "input 1x28x28, small-input stem");
        StringAssert.Contains(result.Output, "Output shape: 10");
    }
}
