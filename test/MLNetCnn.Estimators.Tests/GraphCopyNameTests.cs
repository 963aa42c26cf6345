using System.Reflection;
using Microsoft.ML.OnnxRuntime;
using MLNetCnn.Architectures.Onnx;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// ML.NET copies a loaded model's graph to a file named by <c>Path.GetRandomFileName()</c>, whose random extension is
/// "ort" about once in 32,768 loads; ONNX Runtime reads such a file as its own ORT format and fails. A CI run of the test
/// suite met it ("ORT model verification failed" for a sound model); <c>LoadModel</c> now loads again when it happens.
/// </summary>
[TestClass]
public sealed class GraphCopyNameTests
{
    [TestMethod]
    public void AGraphNamedDotOrtFailsAsORTFormatAndLoadModelKnowsThatFailure()
    {
        var graph = new OnnxModel
        {
            Name = "identity",
            Nodes = [new OnnxNode("Identity", "identity", ["x"], ["y"], [])],
            Initializers = [],
            Inputs = [new OnnxValueInfo("x", OnnxElementType.Float, [1])],
            Outputs = [new OnnxValueInfo("y", OnnxElementType.Float, [1])],
        }.ToBytes();
        string folder = Directory.CreateTempSubdirectory("mlnetcnn-graph-name-").FullName;
        try
        {
            // The same bytes load under an 8.3 name with another extension, and fail under one ending in .ort.
            string sound = Path.Combine(folder, "w143kxnu.idb");
            File.WriteAllBytes(sound, graph);
            using (new InferenceSession(sound))
            {
            }

            string misread = Path.Combine(folder, "w143kxnu.ort");
            File.WriteAllBytes(misread, graph);
            var e = Assert.Throws<OnnxRuntimeException>(() => new InferenceSession(misread));
            StringAssert.Contains(e.Message, "ORT model verification failed");

            // As ML.NET's Model.Load reports it: the failure is recognised through its wrappers, and a damaged model is not.
            Assert.IsTrue(CnnServingCatalog.IsGraphCopyReadAsOrtFormat(new InvalidOperationException("Error during class instantiation", new TargetInvocationException(e))));
            Assert.IsFalse(CnnServingCatalog.IsGraphCopyReadAsOrtFormat(new InvalidOperationException("Error during class instantiation", new TargetInvocationException(new InvalidDataException("The graph is truncated.")))));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
