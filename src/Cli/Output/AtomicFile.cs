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
    public static void Write(string path, Action<string> write)
    {
        string full = Path.GetFullPath(path);
        string temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.partial");
        try
        {
            write(temporary);
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
