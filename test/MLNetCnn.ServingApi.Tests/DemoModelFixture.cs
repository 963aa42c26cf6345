using MLNetCnn.Examples.ServingApi;

namespace MLNetCnn.ServingApi.Tests;

/// <summary>The sample's small Fashion-MNIST model, trained once per test run for every test class, and a few held-out PNGs.</summary>
[TestClass]
public static class DemoModelFixture
{
    private static readonly string Folder = Directory.CreateTempSubdirectory("mlnetcnn-serving-").FullName;
    private static readonly string ModelFile = Path.Combine(Folder, "model.zip");
    private static readonly Lazy<IReadOnlyList<(byte[] Png, string Label)>> Trained = new(() => DemoModel.Train(ModelFile, epochs: 3, perClass: 60));

    /// <summary>The saved model.zip (trained on first use).</summary>
    public static string ModelPath
    {
        get
        {
            _ = Trained.Value;
            return ModelFile;
        }
    }

    /// <summary>Held-out test images as PNG bytes, with their class names.</summary>
    public static IReadOnlyList<(byte[] Png, string Label)> Samples => Trained.Value;

    [AssemblyCleanup]
    public static void DeleteFolder() => Directory.Delete(Folder, recursive: true);
}
