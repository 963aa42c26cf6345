using MLNetCnn.TestSupport;
using System.Text.RegularExpressions;
using MLNetCnn.Estimators.Tests.DocsCheck;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Every ```csharp block of README.md and docs/*.md compiles against the current library, so the docs cannot rot
/// silently (reviewers twice found snippets that did not). How a block states what it assumes: docs/packaging.md,
/// "Code in the docs".
/// </summary>
[TestClass]
public sealed partial class DocsCompileTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void EveryCSharpBlockOfTheReadmeAndTheDocsCompiles()
    {
        var root = RepositoryRoot.Find();
        var files = Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order().Prepend(Path.Combine(root, "README.md"))
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/')).ToList();

        var report = DocsChecker.CheckFiles(root, files);

        // Counted apart from the checker's own markdown reading, so a block that reader misses fails here.
        int fences = files.Sum(f => File.ReadLines(Path.Combine(root, f)).Count(l => CSharpFence().IsMatch(l)));
        Assert.AreEqual(fences, report.Compiled.Count + report.Skipped.Count, "C# blocks found by the checker vs C# fences in the files");
        TestContext.WriteLine($"{report.Compiled.Count} blocks compiled, {report.Skipped.Count} opted out"
            + string.Concat(report.Skipped.Select(s => $"\n  {s.File}:{s.Line}: {s.Directive.OptOutReason}")));
        Assert.AreEqual(0, report.Failures.Count, "\n" + string.Join("\n", report.Failures));
    }

    [GeneratedRegex(@"^\s*(```|~~~)\s*(csharp|cs|c#)\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex CSharpFence();
}
