using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Serving;
using MLNetCnn.TestSupport;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Found by an outside sweep: a model zip naming an assembly version this process lacks ('MLNetCnn.Serving,
/// Version=9.9.9.9') failed to load with a FileNotFoundException under a TargetInvocationException, and one naming a
/// custom-mapping contract no assembly provides with "Error during class instantiation"; neither named the zip nor what
/// was missing. The zips are rewritten here as the sweep made them: the names in ML.NET's Model.key entries are UTF-16.
/// </summary>
[TestClass]
public sealed class ModelFromAnotherVersionTests
{
    private static readonly string Folder = Directory.CreateTempSubdirectory("mlnetcnn-version-").FullName;
    private static string _saved = string.Empty;

    [ClassInitialize]
    public static void SaveAModel(TestContext context)
    {
        // The arg-max step alone: a CustomMapping whose factory lives in MLNetCnn.Serving, saved without training anything.
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable([new ScoreRow { Score = [0.2f, 0.7f, 0.1f] }]);
        var model = ml.Transforms.CustomMapping<ScoreInput, PredictedIndexOutput>(ScoreArgMax.Map, ScoreArgMax.ContractName).Fit(data);
        _saved = Path.Combine(Folder, "argmax.zip");
        ml.Model.Save(model, data.Schema, _saved);
    }

    [ClassCleanup]
    public static void DeleteFolder() => Directory.Delete(Folder, recursive: true);

    [TestMethod]
    public void TheSavedModelLoads()
    {
        var model = new MLContext().CnnServing().LoadModel(_saved, out var schema);
        Assert.IsNotNull(schema);
        Assert.IsNotNull(schema.GetColumnOrNull(nameof(ScoreRow.Score)));
        (model as IDisposable)?.Dispose();
    }

    [TestMethod]
    public void AnAssemblyVersionThatIsNotHereIsAnErrorNamingTheZipAndTheAssembly()
    {
        var (current, other) = ModelZipRewrite.ServingAssemblyVersions();
        string zip = Rewrite("other_assembly_version.zip", current, other);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => new MLContext().CnnServing().LoadModel(zip, out _));
        StringAssert.Contains(e.Message, zip);
        StringAssert.Contains(e.Message, $"'{other}");
    }

    [TestMethod]
    public void AnUnknownCustomMappingContractIsAnErrorNamingTheZipAndTheContract()
    {
        string zip = Rewrite("future_contract.zip", ScoreArgMax.ContractName, ScoreArgMax.ContractName[..^1] + "Z");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => new MLContext().CnnServing().LoadModel(zip, out _));
        StringAssert.Contains(e.Message, zip);
        StringAssert.Contains(e.Message, $"'{ScoreArgMax.ContractName[..^1]}Z'");
    }

    /// <summary>
    /// Found by an outside sweep: a Serving-only ASP.NET Core app published with PublishTrimmed failed in LoadModel with
    /// "the zip is damaged or was not saved by mlContext.Model.Save: Can't instantiate loadable class
    /// 'CrossValidationCommand' with name 'CV'" for a model that the same app served untrimmed. ML.NET's catalog threw
    /// that InvalidOperationException before it read the zip; the message now names trimming instead.
    /// </summary>
    [TestMethod]
    public void MLNetsCatalogFailingToInstantiateItsOwnComponentsIsNamedAsTrimmingNotADamagedZip()
    {
        var mlnet = new InvalidOperationException("Can't instantiate loadable class 'CrossValidationCommand' with name 'CV'");
        var e = CnnServingCatalog.FromTrimmedProcess(new System.Reflection.TargetInvocationException(mlnet), "/srv/model.zip");
        Assert.IsNotNull(e);
        StringAssert.Contains(e.Message, "'/srv/model.zip'");
        StringAssert.Contains(e.Message, "PublishTrimmed");
        StringAssert.Contains(e.Message, "'CrossValidationCommand'");
        Assert.IsFalse(e.Message.Contains("damaged", StringComparison.Ordinal), e.Message);
        Assert.AreSame(mlnet, e.InnerException);

        // A damaged zip's own InvalidOperationException stays a damaged zip.
        Assert.IsNull(CnnServingCatalog.FromTrimmedProcess(new InvalidOperationException("Corrupt model file"), "/srv/model.zip"));
    }

    private static string Rewrite(string name, string from, string to)
    {
        string path = Path.Combine(Folder, name);
        ModelZipRewrite.Replace(_saved, path, from, to);
        return path;
    }

    private sealed class ScoreRow
    {
        [VectorType(3)]
        public float[] Score { get; set; } = [];
    }
}
