using System.IO.Compression;
using System.Text;

namespace MLNetCnn.TestSupport;

/// <summary>
/// Model zips as another version of the library would have saved them: ML.NET's Model.key entries store assembly and
/// contract names as UTF-16 in a string table, so a name replaced by one of the same length still loads as far as that
/// name. Linked into the test projects that need it.
/// </summary>
internal static class ModelZipRewrite
{
    /// <summary>Writes <paramref name="target"/>, a copy of <paramref name="source"/> with every UTF-16 occurrence of <paramref name="from"/> replaced by <paramref name="to"/>.</summary>
    public static void Replace(string source, string target, string from, string to)
    {
        if (from.Length != to.Length)
        {
            throw new ArgumentException($"'{to}' must have the length of '{from}'.", nameof(to));
        }

        byte[] find = Encoding.Unicode.GetBytes(from);
        byte[] put = Encoding.Unicode.GetBytes(to);
        int replaced = 0;
        using (var input = ZipFile.OpenRead(source))
        using (var output = ZipFile.Open(target, ZipArchiveMode.Create))
        {
            foreach (var entry in input.Entries)
            {
                using var copy = new MemoryStream();
                using (var stream = entry.Open())
                {
                    stream.CopyTo(copy);
                }

                byte[] bytes = copy.ToArray();
                for (int at = bytes.AsSpan().IndexOf(find); at >= 0; at = bytes.AsSpan().IndexOf(find))
                {
                    put.CopyTo(bytes, at);
                    replaced++;
                }

                using var written = output.CreateEntry(entry.FullName).Open();
                written.Write(bytes);
            }
        }

        if (replaced == 0)
        {
            throw new ArgumentException($"'{from}' is not in '{source}'.", nameof(from));
        }
    }

    /// <summary>The assembly name of MLNetCnn.Serving as a saved model stores it, and the same with every version digit a 9 (a version that does not exist).</summary>
    public static (string Current, string Other) ServingAssemblyVersions()
    {
        string version = typeof(MLNetCnn.Serving.ScoreArgMax).Assembly.GetName().Version!.ToString();
        string other = new(version.Select(c => char.IsAsciiDigit(c) ? '9' : c).ToArray());
        return ($"MLNetCnn.Serving, Version={version}", $"MLNetCnn.Serving, Version={other}");
    }
}
