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
    /// <summary>Folder names that mark a split of a data set rather than a class.</summary>
    private static readonly HashSet<string> SplitNames = new(StringComparer.OrdinalIgnoreCase) { "train", "training", "val", "valid", "validation", "test", "testing" };

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

    /// <summary>
    /// Refuses a folder laid out as a data set already split: ImageNet's <c>train/</c> and <c>val/</c>, each holding the
    /// same class sub-folders, or Kaggle's <c>train/cats</c>, <c>train/dogs</c> beside an unlabelled <c>test/</c>. Its split
    /// folders would be read as the classes: found by an outside sweep, such a root trained a two-class model, "train"
    /// against "val", with no word. So is a test split kept inside the data (<c>photos/test/cat</c> beside
    /// <c>photos/cat</c>), which made "test" one more class.
    /// </summary>
    /// <param name="root">The folder given, for the message.</param>
    /// <param name="folders">Its class folders, full paths.</param>
    /// <exception cref="InvalidDataException">
    /// Two or more class folders are named as splits (train, val, test, ...) and hold sub-folders of the same name, or
    /// one of them holds two or more sub-folders; or a class folder named as a split holds only sub-folders named as the
    /// other classes (<c>photos/test/cat</c> beside <c>photos/cat</c>).
    /// </exception>
    public static void CheckNotSplit(string root, IReadOnlyList<string> folders)
    {
        var splits = folders.Where(f => SplitNames.Contains(Path.GetFileName(f))).ToList();
        var inside = splits.ToDictionary(f => f, f => FolderWalk.VisibleSubFolders(f).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList());
        var classes = folders.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        if (inside.FirstOrDefault(s => s.Value.Count > 0 && s.Value.All(classes.Contains)) is { Key: not null } kept)
        {
            string split = Path.GetFileName(kept.Key);
            throw new InvalidDataException($"Image folder '{root}': class folder '{split}' holds only sub-folders named as its other classes ({Quoted(kept.Value, 3)}), as a test split kept inside the training data does; read as it is, '{split}' would be one more class holding their images. Move '{kept.Key}' out of the folder (and give it as test data).");
        }

        if (splits.Count < 2)
        {
            return;
        }

        var shared = inside.Values.SelectMany(n => n).GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).Order(StringComparer.Ordinal).ToList();
        var widest = inside.MaxBy(s => s.Value.Count);
        if (shared.Count == 0 && widest.Value.Count < 2)
        {
            return;
        }

        var listed = shared.Count > 0 ? shared : widest.Value;
        string list = Quoted(listed, 3);
        string names = string.Join(" and ", splits.Select(f => $"'{Path.GetFileName(f)}'"));
        string train = splits.FirstOrDefault(f => Path.GetFileName(f).StartsWith("train", StringComparison.OrdinalIgnoreCase)) ?? widest.Key;
        string others = string.Join(" or ", splits.Where(f => f != train).Select(f => $"'{f}'"));
        throw new InvalidDataException($"Image folder '{root}' looks like a data set split into {names}, not one sub-folder per class: {(shared.Count > 0 ? "they hold the same sub-folders" : $"'{Path.GetFileName(widest.Key)}' holds the sub-folders")} {list}, so read as it is, its classes would be {names}. Give the training split '{train}' as the image folder, and {others}, if it holds class folders too, as test data.");
    }

    /// <summary>"'a', 'b', 'c' and 4 more": the first <paramref name="shown"/> names, quoted, and how many are left.</summary>
    internal static string Quoted(IReadOnlyList<string?> names, int shown) =>
        string.Join(", ", names.Take(shown).Select(n => $"'{n}'")) + (names.Count > shown ? $" and {names.Count - shown} more" : string.Empty);

    /// <summary>
    /// The name with control characters (and, when asked, every non-ASCII character) written as escapes: <c>new\nline</c>,
    /// <c>cafe\u0301</c>. <c>mlnetcnn predict</c> prints file paths so too, to keep its lines one per image.
    /// </summary>
    internal static string Visible(string name, bool escapeNonAscii = false)
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
