namespace MLNetCnn.Cli.Output;

/// <summary>
/// Writes an output file so that it appears whole or not at all: the writer fills a temporary file in the same folder,
/// which is then renamed over the target (a rename within one file system replaces the name at once). A failed write
/// (a full disk, for one) deletes the temporary file and leaves the target as it was, so a failed run never leaves a
/// truncated <c>model.zip</c> that looks like a model.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Calls <paramref name="write"/> with a temporary path beside <paramref name="path"/>, then renames it to <paramref name="path"/>.</summary>
    /// <remarks>
    /// A link is followed (the file it points to is replaced, the link stays), and an existing file keeps its permissions
    /// (a reviewer found the rename turning a link into a plain file and a 0600 file into 0644).
    /// </remarks>
    public static void Write(string path, Action<string> write)
    {
        string full = Path.GetFullPath(path);
        if (new FileInfo(full).LinkTarget is not null && new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true) is { } target)
        {
            full = target.FullName;
        }

        string temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.partial");
        try
        {
            write(temporary);
            if (!OperatingSystem.IsWindows() && File.Exists(full))
            {
                File.SetUnixFileMode(temporary, File.GetUnixFileMode(full));
            }

            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temporary);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The first failure is the one to report; a leftover .partial file does not look like a model.
            }

            throw;
        }
    }
}
