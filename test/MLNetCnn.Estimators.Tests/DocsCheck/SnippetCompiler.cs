using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime.InteropServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators.Tests.DocsCheck;

/// <summary>
/// Compiles a doc's C# block in-process with Roslyn, as the reader's .NET 10 console (or ASP.NET Core) project would:
/// its implicit usings, plus the block's own <c>using</c> lines; a block without any gets the page's (a block of only
/// <c>using</c> lines above it) or else the library's public namespaces, Microsoft.ML and Microsoft.ML.Data.
/// References: the shared frameworks, the library's and ML.NET's assemblies and what they reference; nothing the tests use.
/// </summary>
internal static class SnippetCompiler
{
    private const string AssumptionsClass = "DocSnippetAssumptions";
    private static readonly string[] ConsoleUsings = ["System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading", "System.Threading.Tasks"];
    private static readonly string[] WebUsings = [.. ConsoleUsings, "System.Net.Http.Json", "Microsoft.AspNetCore.Builder", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Http", "Microsoft.AspNetCore.Routing", "Microsoft.Extensions.Configuration", "Microsoft.Extensions.DependencyInjection", "Microsoft.Extensions.Hosting", "Microsoft.Extensions.Logging"];
    private static readonly Assembly[] Library = [typeof(ModelRegistry).Assembly, typeof(TrainerOptions).Assembly, typeof(ImageFolder).Assembly, typeof(ImageClassificationTrainer).Assembly];
    private static readonly CSharpParseOptions Parse = new(LanguageVersion.CSharp14);
    private static readonly Lazy<IReadOnlyList<MetadataReference>> References = new(FindReferences);

    /// <summary>The namespaces a block without <c>using</c> lines sees, besides the implicit ones.</summary>
    public static readonly IReadOnlyList<string> LibraryNamespaces =
        [.. Library.SelectMany(a => a.GetExportedTypes()).Select(t => t.Namespace!).Append("Microsoft.ML").Append("Microsoft.ML.Data").Distinct().Order()];

    /// <summary>What stops <paramref name="snippet"/> from compiling, each naming its line in the block and in the doc; empty when it compiles.</summary>
    /// <param name="above">The previous C# block of the same file, for <see cref="SnippetDirective.TypesFromBlockAbove"/>.</param>
    /// <param name="pageUsings">The <c>using</c> lines the page states for its blocks, if it does.</param>
    public static IReadOnlyList<string> Compile(DocSnippet snippet, DocSnippet? above, string? pageUsings)
    {
        var directive = snippet.Directive;
        var block = BlockTree(snippet.Code, pageUsings);
        var trees = new List<(SyntaxTree Tree, string Label)>
        {
            (block, "block"),
            (ParseTree(string.Concat((directive.Web ? WebUsings : ConsoleUsings).Select(n => $"global using global::{n};\n"))), "implicit usings"),
        };
        var problems = new List<string>();
        var assumed = directive.Assumptions.Length == 0 ? null : SyntaxFactory.ParseParameterList($"({directive.Assumptions})", options: Parse, consumeFullText: true);
        if (assumed is not null)
        {
            if (assumed.ContainsDiagnostics || assumed.Parameters.Any(p => p.Type is null || p.Default is not null || p.Modifiers.Count > 0))
            {
                return [$"the assumed variables '{directive.Assumptions}' are not a C# parameter list such as 'MLContext mlContext, IDataView data'"];
            }

            trees.Add((AssumptionsTree(assumed), "compile comment"));
            var used = ParseTree(snippet.Code).GetRoot().DescendantTokens().Where(t => t.IsKind(SyntaxKind.IdentifierToken)).Select(t => t.ValueText).ToHashSet();
            problems.AddRange(assumed.Parameters.Where(p => !used.Contains(p.Identifier.ValueText)).Select(p => $"the compile comment assumes '{p}', which the block never uses"));
        }

        if (directive.TypesFromBlockAbove)
        {
            if (above is null)
            {
                return ["the compile comment asks for the types of the block above, and there is no C# block above it"];
            }

            var aboveRoot = BlockTree(above.Code, pageUsings).GetCompilationUnitRoot();
            trees.Add((ParseTree(aboveRoot.RemoveNodes(aboveRoot.Members.OfType<GlobalStatementSyntax>(), SyntaxRemoveOptions.KeepDirectives)!.ToFullString()), $"block above (line {above.Line})"));
        }

        bool hasStatements = block.GetCompilationUnitRoot().Members.OfType<GlobalStatementSyntax>().Any();
        var options = new CSharpCompilationOptions(hasStatements ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable)
            .WithSpecificDiagnosticOptions([new("CS1701", ReportDiagnostic.Suppress), new("CS1702", ReportDiagnostic.Suppress)]);
        var compilation = CSharpCompilation.Create("DocSnippet", trees.Select(t => t.Tree), References.Value, options);
        problems.AddRange(compilation.GetDiagnostics()
            .Where(d => d.Severity >= DiagnosticSeverity.Warning)
            .Select(d => $"{Locate(d, snippet, trees)}: {d.Severity.ToString().ToLowerInvariant()} {d.Id}: {d.GetMessage()}"));
        return problems;
    }

    /// <summary>Whether <paramref name="code"/> holds nothing but <c>using</c> lines: then it states the namespaces of the page's later blocks.</summary>
    public static bool IsUsingsOnly(string code) => ParseTree(code).GetCompilationUnitRoot() is { Usings.Count: > 0, Members.Count: 0, AttributeLists.Count: 0 };

    /// <summary>The block as a file: a block without <c>using</c> lines gets the page's or the library's namespaces, before a <c>#line 1</c> that keeps its line numbers.</summary>
    private static SyntaxTree BlockTree(string code, string? pageUsings)
    {
        if (ParseTree(code).GetCompilationUnitRoot().Usings.Count > 0)
        {
            return ParseTree(code);
        }

        return ParseTree((pageUsings ?? string.Concat(LibraryNamespaces.Select(n => $"using {n};\n"))) + "\n#line 1\n" + code);
    }

    /// <summary>The assumed variables as static fields that every file sees through a global <c>using static</c>.</summary>
    private static SyntaxTree AssumptionsTree(ParameterListSyntax assumed) => ParseTree(
        $"global using static {AssumptionsClass};\n"
        + string.Concat(LibraryNamespaces.Select(n => $"using {n};\n"))
        + $"internal static class {AssumptionsClass}\n{{\n"
        + string.Concat(assumed.Parameters.Select(p => $"    public static {p.Type} {p.Identifier.ValueText} = default!;\n"))
        + "}\n");

    private static SyntaxTree ParseTree(string text) => CSharpSyntaxTree.ParseText(text, Parse);

    private static string Locate(Diagnostic d, DocSnippet snippet, List<(SyntaxTree Tree, string Label)> trees)
    {
        if (!d.Location.IsInSource)
        {
            return "compilation";
        }

        int line = d.Location.GetMappedLineSpan().StartLinePosition.Line + 1;
        var label = trees.First(t => t.Tree == d.Location.SourceTree).Label;
        return label == "block" ? $"block line {line} ({snippet.File}:{snippet.Line + line})" : $"{label}, line {line}";
    }

    /// <summary>The shared frameworks (.NET, ASP.NET Core), the library and ML.NET assemblies with their references, found in the trusted platform assemblies.</summary>
    private static IReadOnlyList<MetadataReference> FindReferences()
    {
        var trusted = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        var sharedFrameworks = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", ".."));
        // Distinct: the host lists System.Private.CoreLib twice.
        var byName = trusted.Distinct().ToDictionary(p => Path.GetFileNameWithoutExtension(p), StringComparer.OrdinalIgnoreCase);
        var chosen = trusted.Where(p => p.StartsWith(sharedFrameworks, StringComparison.Ordinal)).ToHashSet();
        // The reader's project has all of ML.NET's packages that the library's bring (StandardTrainers, say), used by the library or not.
        var names = new Queue<string>(Library.Select(a => a.GetName().Name!).Concat(byName.Keys.Where(n => n.StartsWith("Microsoft.ML", StringComparison.Ordinal))));
        while (names.TryDequeue(out var name))
        {
            if (byName.TryGetValue(name, out var path) && chosen.Add(path))
            {
                using var pe = new PEReader(File.OpenRead(path));
                var metadata = pe.GetMetadataReader();
                foreach (var reference in metadata.AssemblyReferences)
                {
                    names.Enqueue(metadata.GetString(metadata.GetAssemblyReference(reference).Name));
                }
            }
        }

        return [.. chosen.Order().Select(p => MetadataReference.CreateFromFile(p))];
    }
}
