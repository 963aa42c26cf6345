namespace MLNetCnn.TestSupport;

/// <summary>The repository's root folder, found from a test's output folder. Linked into the test projects that read files of the repository.</summary>
internal static class RepositoryRoot
{
    /// <summary>The nearest folder above the test's output folder that holds MLNetCnn.sln.</summary>
    public static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MLNetCnn.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No MLNetCnn.sln above {AppContext.BaseDirectory}.");
    }
}
