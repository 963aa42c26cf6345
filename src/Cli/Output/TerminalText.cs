using System.Globalization;
using System.Text;

namespace MLNetCnn.Cli.Output;

/// <summary>
/// Text padded by the columns a terminal gives it rather than by its UTF-16 length: a CJK character takes two columns and
/// a combining accent none, so class names such as 猫 or café (written decomposed) misaligned <c>evaluate</c>'s tables
/// when padded with <see cref="string.PadRight(int)"/>.
/// </summary>
internal static class TerminalText
{
    /// <summary>The columns <paramref name="text"/> takes on a terminal: 2 for East Asian wide and full-width characters, 0 for combining marks and format characters, 1 otherwise.</summary>
    public static int Width(string text)
    {
        int width = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            width += Width(rune);
        }

        return width;
    }

    /// <summary><paramref name="text"/> followed by spaces up to <paramref name="columns"/> terminal columns.</summary>
    public static string PadRight(string text, int columns) => text + new string(' ', Math.Max(0, columns - Width(text)));

    /// <summary><paramref name="text"/> after spaces up to <paramref name="columns"/> terminal columns.</summary>
    public static string PadLeft(string text, int columns) => new string(' ', Math.Max(0, columns - Width(text))) + text;

    private static int Width(Rune rune)
    {
        var category = Rune.GetUnicodeCategory(rune);
        if (category is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format)
        {
            return 0;
        }

        return IsWide(rune.Value) ? 2 : 1;
    }

    /// <summary>The East Asian wide (W) and full-width (F) blocks, as terminals' wcwidth gives them two columns.</summary>
    private static bool IsWide(int c) =>
        c is (>= 0x1100 and <= 0x115F) or (>= 0x2E80 and <= 0x303E) or (>= 0x3041 and <= 0x33FF) or (>= 0x3400 and <= 0x4DBF)
            or (>= 0x4E00 and <= 0x9FFF) or (>= 0xA000 and <= 0xA4CF) or (>= 0xAC00 and <= 0xD7A3) or (>= 0xF900 and <= 0xFAFF)
            or (>= 0xFE30 and <= 0xFE4F) or (>= 0xFF00 and <= 0xFF60) or (>= 0xFFE0 and <= 0xFFE6) or (>= 0x1F300 and <= 0x1F64F)
            or (>= 0x1F900 and <= 0x1F9FF) or (>= 0x20000 and <= 0x3FFFD);
}
