using System.Security;

namespace MLNetCnn.Packaging.Tests;

/// <summary>
/// A console project in a fresh temporary folder outside the repository (none of its Directory.Build.* or central
/// versions apply there) whose program is Consumer/Program.cs: trains one step on 32 embedded images, scores them and
/// prints its accuracy. The reference to the library is the caller's: a PackageReference or a ProjectReference.
/// </summary>
internal sealed class ConsumerProject : IDisposable
{
    private ConsumerProject(string folder) => Folder = folder;

    public string Folder { get; }

    /// <summary>Writes the project with <paramref name="reference"/> (an MSBuild item) and a nuget.config of <paramref name="extraSources"/> and the machine's enabled sources.</summary>
    public static ConsumerProject Create(string repository, string reference, params string[] extraSources)
    {
        var consumer = new ConsumerProject(Directory.CreateTempSubdirectory("mlnetcnn-consumer-").FullName);
        string folder = consumer.Folder;
        Assert.IsFalse(folder.StartsWith(repository, StringComparison.Ordinal), $"{folder} must lie outside {repository}");

        // MSBuild stops looking upwards at the first of these, whatever lies above the temp folder.
        foreach (string file in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
        {
            File.WriteAllText(Path.Combine(folder, file), "<Project />\n");
        }

        File.WriteAllText(Path.Combine(folder, "nuget.config"), NuGetConfig(folder, extraSources));
        File.WriteAllText(Path.Combine(folder, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                {reference}
              </ItemGroup>
            </Project>
            """);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Consumer", "Program.cs"), Path.Combine(folder, "Program.cs"));
        return consumer;
    }

    /// <summary>
    /// <c>dotnet run</c> with hard links, as the repository's own build uses (Directory.Build.props): the output then
    /// costs no disk, and a load fix must never write through a link into the NuGet cache.
    /// </summary>
    public DotnetCli.Result Run(TimeSpan timeout) => DotnetCli.Run(Folder, timeout, "run", "--disable-build-servers", "-p:CreateHardLinksForCopyLocalIfPossible=true");

    public void Dispose() => Directory.Delete(Folder, recursive: true);

    /// <summary>The extra sources first, then every source the machine has enabled (nuget.org unless configured otherwise).</summary>
    private static string NuGetConfig(string folder, IEnumerable<string> extraSources)
    {
        var list = DotnetCli.Run(folder, TimeSpan.FromMinutes(1), "nuget", "list", "source", "--format", "short");
        Assert.AreEqual(0, list.ExitCode, list.ToString());
        var sources = list.Output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("E ", StringComparison.Ordinal)).Select(l => l[2..].Trim()).ToList();
        if (sources.Count == 0)
        {
            sources.Add("https://api.nuget.org/v3/index.json");
        }

        var adds = extraSources.Concat(sources).Select((s, i) => $"""    <add key="source{i}" value="{SecurityElement.Escape(s)}" />""");
        return $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
            {string.Join('\n', adds)}
              </packageSources>
            </configuration>
            """;
    }
}
