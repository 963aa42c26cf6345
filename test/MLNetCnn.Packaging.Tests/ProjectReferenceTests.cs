using MLNetCnn.TestSupport;
using System.Text.RegularExpressions;

namespace MLNetCnn.Packaging.Tests;

/// <summary>
/// A console project outside the repository that references src/Estimators by ProjectReference: the repository's
/// Directory.Build.targets (and its build-time load fix) does not apply to it, so its output holds TorchSharp's stock
/// native library, which Debian 12's libstdc++ cannot load. The library's run-time fix must make it train anyway.
/// </summary>
[TestClass]
public sealed class ProjectReferenceTests
{
    [TestMethod]
    public void AProjectOutsideTheRepositoryReferencingEstimatorsTrainsAndScores()
    {
        string repository = RepositoryRoot.Find();
        string estimators = Path.Combine(repository, "src", "Estimators", "MLNetCnn.Estimators.csproj");
        using var consumer = ConsumerProject.Create(repository, $"""<ProjectReference Include="{estimators}" />""");
        var run = consumer.Run(TimeSpan.FromMinutes(10));
        Assert.AreEqual(0, run.ExitCode, run.ToString());
        StringAssert.Matches(run.Output, new Regex(@"^MLNetCnn package consumer: trained one step, scored 32 images, accuracy [01]\.\d{3}$", RegexOptions.Multiline), run.ToString());
    }
}
