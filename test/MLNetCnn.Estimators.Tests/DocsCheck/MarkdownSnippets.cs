using System.Text.RegularExpressions;

namespace MLNetCnn.Estimators.Tests.DocsCheck;

/// <summary>What the <c>&lt;!-- compile: ... --&gt;</c> comment just above a C# block says (docs/packaging.md, "Code in the docs").</summary>
/// <param name="OptOutReason">Set for <c>compile: no, reason</c>: the block is not compiled.</param>
/// <param name="Assumptions">The variables the block uses without declaring them, as a C# parameter list ("" for none).</param>
/// <param name="Web">The reader's project is an ASP.NET Core app: the Web SDK's implicit usings apply.</param>
/// <param name="TypesFromBlockAbove">The types declared in the previous C# block of the same file compile with this one.</param>
internal sealed record SnippetDirective(string? OptOutReason, string Assumptions, bool Web, bool TypesFromBlockAbove)
{
    public static readonly SnippetDirective None = new(null, "", false, false);
}

/// <summary>A fenced C# block of a markdown file.</summary>
/// <param name="File">The markdown file, relative to the repository root.</param>
/// <param name="Line">The 1-based line of the opening fence.</param>
/// <param name="Code">The block's lines, without the fences and the list indentation.</param>
internal sealed record DocSnippet(string File, int Line, string Code, SnippetDirective Directive);

/// <summary>Finds the ```csharp (```cs, ```c#) blocks of a markdown file and their compile comments.</summary>
internal static partial class MarkdownSnippets
{
    private static readonly string[] CSharpTags = ["csharp", "cs", "c#"];

    /// <summary>The C# blocks of <paramref name="markdown"/>, and what is wrong with its compile comments ("file:line: ...").</summary>
    public static (IReadOnlyList<DocSnippet> Snippets, IReadOnlyList<string> Problems) Read(string file, string markdown)
    {
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var snippets = new List<DocSnippet>();
        var problems = new List<string>();
        (SnippetDirective Directive, int Line, int EndLine)? pending = null;
        for (int i = 0; i < lines.Length; i++)
        {
            var comment = CompileComment().Match(lines[i]);
            if (comment.Success)
            {
                int start = i;
                var body = comment.Groups[1].Value;
                while (!body.Contains("-->", StringComparison.Ordinal) && i + 1 < lines.Length)
                {
                    body += " " + lines[++i].Trim();
                }

                if (pending is { } stray)
                {
                    problems.Add(Stray(stray.Line));
                }

                var (directive, problem) = ParseDirective(body.Split("-->")[0].Trim());
                if (problem is not null)
                {
                    problems.Add($"{file}:{start + 1}: {problem}");
                }

                pending = (directive, start + 1, i);
                continue;
            }

            var fence = Fence().Match(lines[i]);
            bool isCSharp = fence.Success && CSharpTags.Contains(fence.Groups["tag"].Value.ToLowerInvariant());
            if (pending is { } before && (!isCSharp || before.EndLine != i - 1) && lines[i].Trim().Length > 0)
            {
                problems.Add(Stray(before.Line));
                pending = null;
            }

            if (!fence.Success)
            {
                continue;
            }

            int open = i;
            var (indent, marker) = (fence.Groups["indent"].Length, fence.Groups["marker"].Value);
            var code = new List<string>();
            while (++i < lines.Length && !IsClosing(lines[i], marker))
            {
                code.Add(lines[i][Math.Min(indent, lines[i].Length - lines[i].TrimStart(' ').Length)..]);
            }

            if (i == lines.Length)
            {
                problems.Add($"{file}:{open + 1}: this code block is never closed");
            }

            if (isCSharp)
            {
                snippets.Add(new DocSnippet(file, open + 1, string.Join('\n', code), pending?.Directive ?? SnippetDirective.None));
            }

            pending = null;
        }

        if (pending is { } last)
        {
            problems.Add(Stray(last.Line));
        }

        return (snippets, problems);

        string Stray(int line) => $"{file}:{line}: this compile comment is not just above a C# block";
    }

    private static (SnippetDirective Directive, string? Problem) ParseDirective(string text)
    {
        if (text.StartsWith("no", StringComparison.Ordinal) && (text.Length == 2 || !char.IsLetterOrDigit(text[2])))
        {
            var reason = text[2..].TrimStart(',', ' ');
            return reason.Length > 0
                ? (SnippetDirective.None with { OptOutReason = reason }, null)
                : (SnippetDirective.None with { OptOutReason = "(no reason)" }, "'compile: no' needs a reason: 'compile: no, because ...'");
        }

        var directive = SnippetDirective.None;
        foreach (var clause in text.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (clause == "web")
            {
                directive = directive with { Web = true };
            }
            else if (clause == "types from the block above")
            {
                directive = directive with { TypesFromBlockAbove = true };
            }
            else if (directive.Assumptions.Length > 0)
            {
                return (directive, $"the compile comment has two lists of assumed variables: '{directive.Assumptions}' and '{clause}'");
            }
            else
            {
                directive = directive with { Assumptions = clause };
            }
        }

        return (directive, null);
    }

    private static bool IsClosing(string line, string marker)
    {
        var trimmed = line.Trim();
        return trimmed.Length >= marker.Length && trimmed.All(c => c == marker[0]);
    }

    [GeneratedRegex(@"^\s*<!--\s*compile:(.*)$")]
    private static partial Regex CompileComment();

    [GeneratedRegex(@"^(?<indent> *)(?<marker>`{3,}|~{3,})\s*(?<tag>[^\s`]*)")]
    private static partial Regex Fence();
}
