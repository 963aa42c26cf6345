using System.Globalization;
using System.Text;

namespace MLNetCnn.Serving;

/// <summary>
/// The checks on class folder names: each becomes a class name that <c>predict</c> prints in tab-separated lines and
/// <c>evaluate</c> in tables, so a name with a control character (a newline, a tab) or two names that differ only in
/// their Unicode normalization (NFC "café" and NFD "café", which print identically) are refused before training.
/// </summary>
internal static class ClassFolderNames
{
    /// <exception cref="InvalidDataException">A name holds a control character, or two names are equal after NFC normalization; the message names them.</exception>
    public static void Check(string root, IReadOnlyList<string> names)
    {
        if (names.FirstOrDefault(n => n.Any(char.IsControl)) is { } control)
        {
            throw new InvalidDataException($"Image folder '{root}': class folder '{Visible(control)}' has a control character in its name; class names are printed in tab-separated lines and tables, so rename the folder.");
        }

        var twins = names.GroupBy(n => n.Normalize(NormalizationForm.FormC), StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (twins is not null)
        {
            throw new InvalidDataException($"Image folder '{root}': class folders {string.Join(" and ", twins.Select(n => $"'{n}' ({Visible(n, escapeNonAscii: true)})"))} have the same name after Unicode normalization and would print identically; rename or merge them.");
        }
    }

    /// <summary>The name with control characters (and, when asked, every non-ASCII character) written as escapes: <c>new\nline</c>, <c>cafe\u0301</c>.</summary>
    private static string Visible(string name, bool escapeNonAscii = false)
    {
        var text = new StringBuilder();
        foreach (char c in name)
        {
            text.Append(c switch
            {
                '\n' => "\\n",
                '\t' => "\\t",
                '\r' => "\\r",
                _ when char.IsControl(c) || (escapeNonAscii && c > 0x7e) => string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
                _ => c.ToString(),
            });
        }

        return text.ToString();
    }
}
