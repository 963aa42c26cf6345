using System.Collections.Concurrent;

namespace MLNetCnn.Serving;

/// <summary>
/// The ONNX files that trained models and featurizers score from (ONNX Runtime opens a graph by path), each deleted by
/// its model's <c>Dispose</c>, and those still there deleted when the process exits. ML.NET users rarely dispose what
/// <c>CrossValidate</c> returns (a model per fold in its results), and .NET runs no finalizers at exit, so
/// every cross-validation left one graph per fold in <c>MLContext.TempFilePath</c> (2.8 MB each for a ResNet-18 at
/// width 0.25, found by an outside sweep).
/// </summary>
internal static class TempGraphFiles
{
    private static readonly ConcurrentDictionary<string, byte> Undeleted = new(StringComparer.Ordinal);

    static TempGraphFiles() => AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteUndisposed();

    /// <summary>Null when a file can be created in <paramref name="folder"/> (made if missing), else the error that says why not.</summary>
    public static Exception? WhyNotWritable(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            using var probe = new FileStream(Path.Combine(folder, Path.GetRandomFileName()), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e;
        }
    }

    /// <summary>
    /// Refuses, before a training run, a <c>MLContext.TempFilePath</c> that cannot be written: the trained graph goes
    /// there at the end, so a run in a container with a read-only root file system (or a TMPDIR that does not exist)
    /// trained to the last epoch and then failed (found by an outside sweep).
    /// </summary>
    /// <exception cref="IOException">The folder cannot be written; the message names it and the settings to change.</exception>
    public static void CheckWritable(string folder)
    {
        if (WhyNotWritable(folder) is { } why)
        {
            throw new IOException($"The temporary folder '{folder}' (MLContext.TempFilePath) cannot be written ({why.Message}); the model's ONNX graph goes there. Point MLContext.TempFilePath (or the TMPDIR environment variable) at a writable folder.", why);
        }
    }

    /// <summary>Writes <paramref name="graph"/> to a new file in <paramref name="folder"/> and returns its path.</summary>
    public static string Write(string folder, byte[] graph)
    {
        string path = Path.Combine(folder, $"mlnetcnn-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, graph);
        }
        catch
        {
            TryDelete(path); // a disk that filled up mid-write leaves no partial graph; the write's error is the one that counts
            throw;
        }

        Undeleted.TryAdd(path, 0);
        return path;
    }

    /// <summary>Deletes a file <see cref="Write"/> made (its model was disposed, or never built).</summary>
    public static void Delete(string path)
    {
        File.Delete(path);
        Undeleted.TryRemove(path, out _);
    }

    /// <summary>
    /// Deletes the files of models never disposed, at exit, or those in <paramref name="folder"/> (a test's, whose process
    /// goes on). Their ONNX Runtime sessions read the graph when they were created, so a model still scoring is not
    /// disturbed; a file that cannot be deleted (open elsewhere on Windows) stays.
    /// </summary>
    internal static void DeleteUndisposed(string? folder = null)
    {
        string? only = folder is null ? null : Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        foreach (string path in Undeleted.Keys.Where(p => only is null || Path.GetDirectoryName(Path.GetFullPath(p)) == only))
        {
            TryDelete(path);
            Undeleted.TryRemove(path, out _);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: nothing is left to do with a file that will not go.
        }
    }
}
