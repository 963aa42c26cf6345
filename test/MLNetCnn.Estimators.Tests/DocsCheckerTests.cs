using MLNetCnn.Estimators.Tests.DocsCheck;

namespace MLNetCnn.Estimators.Tests;

/// <summary>The checker behind <see cref="DocsCompileTests"/>, on markdown written here: it finds C# blocks, fails a broken one, skips an opted-out one and honours the compile comments.</summary>
[TestClass]
public sealed class DocsCheckerTests
{
    private const string Fence = "```";

    [TestMethod]
    public void ABrokenBlockFailsNamingTheFileTheBlockAndRoslynsDiagnosticWithItsLine()
    {
        var report = DocsChecker.Check("sample.md", $"""
            # Sample

            Train:
            {Fence}csharp
            var mlContext = new MLContext();
            var options = new ImageClassificationTrainer.Options {"{"} Arch = "resnet18", Epochs = 3 {"}"};
            {Fence}
            """);

        Assert.HasCount(1, report.Failures);
        StringAssert.StartsWith(report.Failures[0], "sample.md:4: the C# block does not compile:");
        StringAssert.Contains(report.Failures[0], "block line 2 (sample.md:6): error CS0117");
        StringAssert.Contains(report.Failures[0], "'Epochs'");
    }

    [TestMethod]
    public void AWarningFailsTheBlockAsAnErrorDoes()
    {
        var report = DocsChecker.Check("sample.md", $"{Fence}csharp\nstring? name = null;\nConsole.WriteLine(name.Length);\n{Fence}\n");

        StringAssert.Contains(report.Failures.Single(), "block line 2 (sample.md:3): warning CS8602");
    }

    [TestMethod]
    public void AnOptedOutBlockIsSkippedAndAnOptOutNeedsAReason()
    {
        var report = DocsChecker.Check("sample.md", $"""
            <!-- compile: no, because it lists members of a class -->
            {Fence}csharp
            Arch = "resnet18",
            {Fence}

            <!-- compile: no -->
            {Fence}cs
            Epoch = 3,
            {Fence}
            """);

        Assert.HasCount(0, report.Compiled);
        Assert.AreEqual("because it lists members of a class", report.Skipped[0].Directive.OptOutReason);
        Assert.HasCount(2, report.Skipped);
        Assert.HasCount(1, report.Failures);
        StringAssert.Contains(report.Failures[0], "sample.md:6: 'compile: no' needs a reason");
    }

    [TestMethod]
    public void ABlockCompilesWithTheVariablesItsCommentAssumesAndOnlyWithThem()
    {
        const string block = "var model = mlContext.Cnn().ImageClassification(options).Fit(trainData);\n";
        string assumed = $"<!-- compile: MLContext mlContext,\n  ImageClassificationTrainer.Options options, IDataView trainData -->\n{Fence}csharp\n{block}{Fence}\n";

        Assert.HasCount(0, DocsChecker.Check("sample.md", assumed).Failures);
        var bare = DocsChecker.Check("sample.md", $"{Fence}csharp\n{block}{Fence}\n");
        StringAssert.Contains(bare.Failures.Single(), "block line 1 (sample.md:2): error CS0103: The name 'mlContext' does not exist");
        var unused = DocsChecker.Check("sample.md", $"<!-- compile: MLContext mlContext, IDataView testData -->\n{Fence}csharp\nvar data = mlContext.Data.LoadFromEnumerable(new int[0]);\n{Fence}\n");
        StringAssert.Contains(unused.Failures.Single(), "assumes 'IDataView testData', which the block never uses");
    }

    [TestMethod]
    public void ABlockWithUsingLinesGetsOnlyThoseAndTheImplicitOnes()
    {
        const string block = "var mlContext = new MLContext();\nvar catalog = mlContext.Cnn();\n";

        Assert.HasCount(0, DocsChecker.Check("sample.md", $"{Fence}csharp\n{block}{Fence}\n").Failures);
        var stated = DocsChecker.Check("sample.md", $"{Fence}csharp\nusing Microsoft.ML;\n\n{block}{Fence}\n");
        StringAssert.Contains(stated.Failures.Single(), "block line 4 (sample.md:5): error CS1061");
        Assert.HasCount(0, DocsChecker.Check("sample.md", $"{Fence}csharp\nusing Microsoft.ML;\nusing MLNetCnn.Estimators;\n{block}{Fence}\n").Failures);
    }

    [TestMethod]
    public void ABlockOfOnlyUsingLinesStatesTheNamespacesOfThePagesLaterBlocks()
    {
        const string later = $"{Fence}csharp\nvar mlContext = new MLContext();\nvar catalog = mlContext.Cnn();\n{Fence}\n";

        var missing = DocsChecker.Check("sample.md", $"{Fence}csharp\nusing Microsoft.ML;\n{Fence}\n\n{later}");
        StringAssert.Contains(missing.Failures.Single(), "sample.md:5: the C# block does not compile:\n    block line 2 (sample.md:7): error CS1061");
        Assert.HasCount(0, DocsChecker.Check("sample.md", $"{Fence}csharp\nusing Microsoft.ML;\nusing MLNetCnn.Estimators;\n{Fence}\n\n{later}").Failures);
        var unknown = DocsChecker.Check("sample.md", $"{Fence}csharp\nusing MLNetCnn.NoSuchNamespace;\n{Fence}\n");
        StringAssert.Contains(unknown.Failures.Single(), "block line 1 (sample.md:2): error CS0234");
    }

    [TestMethod]
    public void EveryCSharpTagAndIndentedBlockIsFoundAndAStrayCommentIsReported()
    {
        var report = DocsChecker.Check("sample.md", $"""
            - a list item:

              {Fence}c#
              var shape = new ImageShape(3, 32, 32);
              {Fence}
            {Fence}bash
            dotnet build
            {Fence}
            {Fence}CS
            public sealed class Row {"{"} public float X {"{"} get; set; {"}"} {"}"}
            {Fence}
            <!-- compile: types from the block above -->
            {Fence}csharp
            var row = new Row {"{"} X = 1 {"}"};
            {Fence}
            <!-- compile: MLContext mlContext -->

            {Fence}csharp
            Console.WriteLine();
            {Fence}
            """);

        CollectionAssert.AreEqual(new[] { 3, 9, 13, 18 }, report.Compiled.Select(s => s.Line).ToArray());
        Assert.AreEqual("var shape = new ImageShape(3, 32, 32);", report.Compiled[0].Code);
        Assert.HasCount(1, report.Failures);
        StringAssert.StartsWith(report.Failures[0], "sample.md:16: this compile comment is not just above a C# block");
    }
}
