namespace MLNetCnn.Estimators.Tests.DocsCheck;

/// <summary>What checking the C# blocks of some markdown found.</summary>
/// <param name="Compiled">The blocks compiled (with or without problems).</param>
/// <param name="Skipped">The blocks a <c>compile: no, reason</c> comment opts out.</param>
/// <param name="Failures">One message per failing block or bad compile comment: the file, the line, Roslyn's diagnostics.</param>
internal sealed record DocsReport(IReadOnlyList<DocSnippet> Compiled, IReadOnlyList<DocSnippet> Skipped, IReadOnlyList<string> Failures);

/// <summary>Compiles every C# block of the given markdown files (see docs/packaging.md, "Code in the docs").</summary>
internal static class DocsChecker
{
    /// <summary>Checks the files named relative to <paramref name="root"/>.</summary>
    public static DocsReport CheckFiles(string root, IEnumerable<string> files) =>
        Merge(files.Select(f => Check(f, File.ReadAllText(Path.Combine(root, f)))));

    /// <summary>Checks one markdown text; <paramref name="file"/> names it in the messages.</summary>
    public static DocsReport Check(string file, string markdown)
    {
        var (snippets, problems) = MarkdownSnippets.Read(file, markdown);
        var failures = new List<string>(problems);
        var compiled = new List<DocSnippet>();
        string? pageUsings = null;
        for (int i = 0; i < snippets.Count; i++)
        {
            if (snippets[i].Directive.OptOutReason is not null)
            {
                continue;
            }

            compiled.Add(snippets[i]);
            var errors = SnippetCompiler.Compile(snippets[i], i > 0 ? snippets[i - 1] : null, pageUsings);
            if (errors.Count > 0)
            {
                failures.Add($"{file}:{snippets[i].Line}: the C# block does not compile:\n" + string.Concat(errors.Select(e => $"    {e}\n")));
            }

            if (SnippetCompiler.IsUsingsOnly(snippets[i].Code))
            {
                pageUsings = snippets[i].Code;
            }
        }

        return new DocsReport(compiled, [.. snippets.Except(compiled)], failures);
    }

    private static DocsReport Merge(IEnumerable<DocsReport> reports)
    {
        var all = reports.ToList();
        return new DocsReport([.. all.SelectMany(r => r.Compiled)], [.. all.SelectMany(r => r.Skipped)], [.. all.SelectMany(r => r.Failures)]);
    }
}
