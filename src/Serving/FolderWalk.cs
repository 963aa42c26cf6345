namespace MLNetCnn.Serving;

/// <summary>
/// The walk behind <see cref="ImageFolder.FindImageFiles"/>: a folder's files, recursively, without names starting with
/// '.', following links to folders once each and never a link to the folder holding it or to an ancestor (a loop).
/// </summary>
internal static class FolderWalk
{
    /// <summary>How paths compare: without case where the file system usually ignores it (Windows, macOS).</summary>
    private static readonly StringComparison PathComparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>A hidden name: one that starts with '.' (<c>.git</c>, <c>.ipynb_checkpoints</c>, macOS's <c>._photo.jpg</c>).</summary>
    public static bool IsHidden(string name) => name.StartsWith('.');

    /// <summary>The folder's sub-folders that are not hidden, as full paths (unsorted).</summary>
    public static IEnumerable<string> VisibleSubFolders(string folder) => Directory.GetDirectories(folder).Where(d => !IsHidden(Path.GetFileName(d)));

    /// <summary>
    /// Full paths of the files under <paramref name="folder"/> whose name passes <paramref name="include"/>, sorted
    /// ordinally, and of the other files (not hidden), which <paramref name="include"/> left out; and each real folder
    /// read (links resolved), with the path it was read under.
    /// </summary>
    /// <exception cref="UnauthorizedAccessException">A folder (the one given or one under it) cannot be listed; the message names it.</exception>
    /// <exception cref="IOException">A folder vanished or failed while being listed; the message names it.</exception>
    /// <exception cref="InvalidDataException">An entry's name is not valid UTF-8, so it cannot be opened; the message names it.</exception>
    public static (List<string> Files, List<string> Ignored, Dictionary<string, string> Folders) Files(string folder, Func<string, bool> include)
    {
        var files = new List<string>();
        var ignored = new List<string>();
        var visited = new Dictionary<string, string>(StringComparer.FromComparison(PathComparison));
        var pending = new Stack<DirectoryInfo>();
        pending.Push(new DirectoryInfo(Path.GetFullPath(folder)));
        while (pending.TryPop(out var directory))
        {
            string real = RealPath(directory.FullName);
            if (!visited.TryAdd(real, directory.FullName))
            {
                continue;
            }

            foreach (var entry in Entries(directory))
            {
                if (IsHidden(entry.Name))
                {
                    continue;
                }

                CheckOpenable(entry.FullName);

                if (entry is DirectoryInfo sub)
                {
                    // A link to the folder itself or to one of its ancestors is a loop: everything it leads to is read
                    // already, or lies outside the folder being walked (another class, in an image-folder root).
                    if (sub.LinkTarget is null || !IsSameOrAncestor(RealPath(sub.FullName), real))
                    {
                        pending.Push(sub);
                    }
                }
                else
                {
                    (include(entry.Name) ? files : ignored).Add(entry.FullName);
                }
            }
        }

        files.Sort(StringComparer.Ordinal);
        ignored.Sort(StringComparer.Ordinal);
        return (files, ignored, visited);
    }

    /// <summary>
    /// A folder's entries, popped in name order (the same walk on every file system). A folder that cannot be listed is
    /// an error naming it: skipping it silently trained a model without the class it held.
    /// </summary>
    private static List<FileSystemInfo> Entries(DirectoryInfo directory)
    {
        try
        {
            return directory.EnumerateFileSystemInfos("*", new EnumerationOptions { IgnoreInaccessible = false, AttributesToSkip = 0 })
                .OrderByDescending(e => e.Name, StringComparer.Ordinal)
                .ToList();
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"Folder '{directory.FullName}' cannot be read ({e.Message}); give this user read access or move it out.", e);
        }
        catch (IOException e)
        {
            throw new IOException($"Folder '{directory.FullName}' cannot be read ({e.Message}).", e);
        }
    }

    /// <summary>
    /// Refuses an entry whose name is not valid UTF-8 (a zip unpacked with Latin-1 names, say): .NET lists it with U+FFFD in
    /// place of the bad bytes, and that name opens nothing, so the folder read as "does not exist" and its files were lost.
    /// </summary>
    /// <exception cref="InvalidDataException">The entry cannot be opened by the name .NET lists; the message names it.</exception>
    public static void CheckOpenable(string path)
    {
        if (NameIsNotUtf8(path))
        {
            throw new InvalidDataException($"Folder '{Path.GetDirectoryName(path)}' holds '{Path.GetFileName(path)}', whose name is not valid UTF-8 (the bad bytes show as \uFFFD); it cannot be opened by that name. Rename it to UTF-8 (for example with convmv -f latin1 -t utf8).");
        }
    }

    /// <summary>
    /// True for a path that .NET listed with U+FFFD in place of bytes that are not UTF-8, and that therefore opens nothing
    /// (a name really holding U+FFFD, in UTF-8, still opens).
    /// </summary>
    public static bool NameIsNotUtf8(string path) => path.Contains('\uFFFD', StringComparison.Ordinal) && !File.Exists(path) && !Directory.Exists(path);

    private static bool IsSameOrAncestor(string candidate, string path)
    {
        string prefix = Path.EndsInDirectorySeparator(candidate) ? candidate : candidate + Path.DirectorySeparatorChar;
        return string.Equals(candidate, path, PathComparison) || path.StartsWith(prefix, PathComparison);
    }

    /// <summary>
    /// The path with every link in it resolved (what realpath(3) gives), found one component at a time; components that do
    /// not exist yet are kept as they are.
    /// </summary>
    internal static string RealPath(string path, int depth = 0)
    {
        string full = Path.GetFullPath(path);
        string root = Path.GetPathRoot(full) ?? string.Empty;
        string current = root;
        foreach (string part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            if (depth < 40 && new DirectoryInfo(current).LinkTarget is not null)
            {
                try
                {
                    if (new DirectoryInfo(current).ResolveLinkTarget(returnFinalTarget: true) is { } target)
                    {
                        current = RealPath(target.FullName, depth + 1);
                    }
                }
                catch (IOException)
                {
                    // A link loop: keep the path as it is; the visited set still ends the walk.
                }
            }
        }

        return current;
    }
}
