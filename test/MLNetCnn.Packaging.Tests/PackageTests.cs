using MLNetCnn.TestSupport;
using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

[assembly: Parallelize(Workers = 1, Scope = ExecutionScope.ClassLevel)]

namespace MLNetCnn.Packaging.Tests;

/// <summary>
/// Packs the four library projects under src/ into a fresh folder, checks what the library packages declare, and
/// restores MLNetCnn.Estimators from that folder into a new console project outside the repository
/// (none of the repository's Directory.Build.* or central versions apply there), which trains one step,
/// scores and prints its accuracy. Packing builds the libraries in Release: about two minutes on 2 cores.
/// </summary>
[TestClass]
public sealed class PackageTests
{
    private static readonly string[] Libraries = ["MLNetCnn.Architectures", "MLNetCnn.Tricks", "MLNetCnn.Serving", "MLNetCnn.Estimators"];
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(10);

    private static string _repo = string.Empty;
    private static string _feed = string.Empty;
    private static string _version = string.Empty;

    [ClassInitialize]
    public static void PackTheLibraries(TestContext context)
    {
        _repo = RepositoryRoot.Find();
        _feed = Directory.CreateTempSubdirectory("mlnetcnn-feed-").FullName;
        // A version no earlier run can have left in the NuGet cache, so restore takes these packages.
        string suffix = $"pkgtest.{DateTime.UtcNow:yyyyMMddHHmmss}";
        // The libraries only: the mlnetcnn tool package carries every platform's native libraries
        // (about 700 MB); its pack and install were checked by hand (docs/cli.md).
        foreach (string project in Directory.GetFiles(Path.Combine(_repo, "src"), "*.csproj", SearchOption.AllDirectories)
            .Where(p => Libraries.Contains(Path.GetFileNameWithoutExtension(p), StringComparer.Ordinal))
            .Order(StringComparer.Ordinal))
        {
            var pack = DotnetCli.Run(_repo, PackTimeout, "pack", project, "-c", "Release", "-o", _feed, "--version-suffix", suffix, "--disable-build-servers");
            Assert.AreEqual(0, pack.ExitCode, pack.ToString());
            context.WriteLine($"packed {Path.GetFileName(project)} in {pack.Elapsed.TotalSeconds:F0} s");
        }

        _version = Nuspec("MLNetCnn.Estimators").Element("version")!.Value;
        StringAssert.EndsWith(_version, suffix);
    }

    [ClassCleanup]
    public static void RemoveFeedAndCachedCopies()
    {
        if (_feed.Length > 0)
        {
            Directory.Delete(_feed, recursive: true);
        }

        // The restore test copied these test-only versions into the global packages folder.
        string cache = GlobalPackagesFolder();
        foreach (string library in Libraries)
        {
            string cached = Path.Combine(cache, library.ToLowerInvariant(), _version.ToLowerInvariant());
            if (cache.Length > 0 && _version.Length > 0 && Directory.Exists(cached))
            {
                Directory.Delete(cached, recursive: true);
            }
        }
    }

    [TestMethod]
    public void LibraryPackagesCarryReadmeMetadataAndCentralVersionsAsDependencies()
    {
        foreach (string library in Libraries)
        {
            var nuspec = Nuspec(library);
            Assert.AreEqual(_version, nuspec.Element("version")!.Value, library);
            Assert.AreEqual("MIT", nuspec.Element("license")?.Value, library);
            Assert.AreEqual("README.md", nuspec.Element("readme")?.Value, library);
            Assert.IsFalse(string.IsNullOrWhiteSpace(nuspec.Element("description")?.Value), library);
            Assert.IsFalse(string.IsNullOrWhiteSpace(nuspec.Element("authors")?.Value), library);
            StringAssert.Contains(nuspec.Element("tags")?.Value ?? string.Empty, "ml.net", library);
            CollectionAssert.Contains(Entries(library), "README.md", library);
            CollectionAssert.Contains(Entries(library), $"lib/net10.0/{library}.dll", library);

            // Each PackageReference of the project (as MSBuild evaluates it) at its central version, each ProjectReference at
            // exactly this version: the libraries read each other's internals, so a newer MLNetCnn.Serving beside an older
            // MLNetCnn.Estimators must not restore silently (NuGet's default range for a ProjectReference is >= this version).
            string project = Directory.GetFiles(Path.Combine(_repo, "src"), library + ".csproj", SearchOption.AllDirectories).Single();
            var evaluated = DotnetCli.Run(_repo, TimeSpan.FromMinutes(2), "msbuild", project, "-getItem:PackageReference", "-getItem:ProjectReference", "-getItem:PackageVersion");
            Assert.AreEqual(0, evaluated.ExitCode, evaluated.ToString());
            var items = JsonDocument.Parse(evaluated.Output).RootElement.GetProperty("Items");
            var central = Items(items, "PackageVersion").ToDictionary(i => i.GetProperty("Identity").GetString()!, i => i.GetProperty("Version").GetString()!);
            var expected = Items(items, "PackageReference").Select(i => i.GetProperty("Identity").GetString()!).ToDictionary(id => id, id => central[id]);
            foreach (var reference in Items(items, "ProjectReference"))
            {
                expected.Add(Path.GetFileNameWithoutExtension(reference.GetProperty("Identity").GetString()!), $"[{_version}]");
            }

            var declared = nuspec.Descendants().Where(e => e.Name.LocalName == "dependency")
                .ToDictionary(d => d.Attribute("id")!.Value, d => d.Attribute("version")!.Value);
            CollectionAssert.AreEquivalent(expected.OrderBy(p => p.Key).ToList(), declared.OrderBy(p => p.Key).ToList(), $"{library} dependencies: {string.Join(", ", declared)}");
        }

        // The Debian 12 load fix goes wherever TorchSharp's native library goes.
        CollectionAssert.IsSubsetOf(
            new[] { "buildTransitive/MLNetCnn.Architectures.targets", "buildTransitive/MarkElfVersionNeedsWeak.cs" },
            Entries("MLNetCnn.Architectures"));
        // The embedded Fashion-MNIST subset keeps its MIT notice.
        CollectionAssert.Contains(Entries("MLNetCnn.Estimators"), "licenses/fashion-mnist/LICENSE");
    }

    [TestMethod]
    public void AFreshProjectOutsideTheRepositoryRestoresEstimatorsTrainsAndScores()
    {
        using var consumer = ConsumerProject.Create(_repo, $"""<PackageReference Include="MLNetCnn.Estimators" Version="{_version}" />""", _feed);

        // The load fix must replace the output's copy of libLibTorchSharp.so rather than write through the hard link
        // into the NuGet cache, which the hash below checks.
        string cachedNative = Path.Combine(GlobalPackagesFolder(), "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        string? before = File.Exists(cachedNative) ? Sha256(cachedNative) : null;
        var run = consumer.Run(RunTimeout);

        Assert.AreEqual(0, run.ExitCode, run.ToString());
        if (OperatingSystem.IsLinux())
        {
            Assert.IsTrue(File.Exists(cachedNative), $"restore puts TorchSharp's native library at {cachedNative}");
            Assert.AreEqual(before ?? Sha256(cachedNative), Sha256(cachedNative), "the load fix changed the NuGet cache's libLibTorchSharp.so");
        }

        StringAssert.Matches(run.Output, new Regex(@"^MLNetCnn package consumer: trained one step, scored 32 images, accuracy [01]\.\d{3}$", RegexOptions.Multiline), run.ToString());
        string imports = File.ReadAllText(Path.Combine(consumer.Folder, "obj", "Consumer.csproj.nuget.g.targets"));
        StringAssert.Contains(imports, "buildTransitive/MLNetCnn.Architectures.targets", "the TorchSharp load fix reaches a project that references only MLNetCnn.Estimators");
    }

    [TestMethod]
    public void TheServingPackageDependsOnNeitherTorchSharpNorTheTrainingLibraries()
    {
        var dependencies = Nuspec("MLNetCnn.Serving").Descendants().Where(e => e.Name.LocalName == "dependency").Select(d => d.Attribute("id")!.Value).ToList();
        Assert.IsTrue(dependencies.Contains("Microsoft.ML.OnnxTransformer"), string.Join(", ", dependencies));
        CollectionAssert.AreEqual(new List<string>(), dependencies.Where(d => d.Contains("Torch", StringComparison.OrdinalIgnoreCase) || d.StartsWith("MLNetCnn.", StringComparison.Ordinal)).ToList());
        var estimators = Nuspec("MLNetCnn.Estimators").Descendants().Where(e => e.Name.LocalName == "dependency").Select(d => d.Attribute("id")!.Value).ToList();
        CollectionAssert.IsSubsetOf(new[] { "MLNetCnn.Serving", "MLNetCnn.Tricks" }, estimators);
    }

    private static string GlobalPackagesFolder()
    {
        var locals = DotnetCli.Run(Path.GetTempPath(), TimeSpan.FromMinutes(1), "nuget", "locals", "global-packages", "--list");
        return locals.Output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("global-packages:", StringComparison.Ordinal))?["global-packages:".Length..].Trim() ?? string.Empty;
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(stream));
    }

    private static IEnumerable<JsonElement> Items(JsonElement items, string type) =>
        items.TryGetProperty(type, out var list) ? list.EnumerateArray() : [];

    private static XElement Nuspec(string library)
    {
        using var zip = ZipFile.OpenRead(Package(library));
        using var stream = zip.Entries.Single(e => e.FullName == library + ".nuspec").Open();
        var metadata = XDocument.Load(stream).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        // Drop the namespace so tests read plain element names.
        foreach (var element in metadata.DescendantsAndSelf())
        {
            element.Name = element.Name.LocalName;
        }

        return metadata;
    }

    private static List<string> Entries(string library)
    {
        using var zip = ZipFile.OpenRead(Package(library));
        return zip.Entries.Select(e => e.FullName).ToList();
    }

    private static string Package(string library)
    {
        var found = Directory.GetFiles(_feed, library + ".*.nupkg").Where(f => Regex.IsMatch(Path.GetFileName(f), $@"^{Regex.Escape(library)}\.\d")).ToList();
        Assert.AreEqual(1, found.Count, $"{library} package in {_feed}: {string.Join(", ", Directory.GetFiles(_feed))}");
        return found[0];
    }
}
