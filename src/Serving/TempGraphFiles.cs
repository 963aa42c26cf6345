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
