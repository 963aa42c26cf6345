namespace MLNetCnn.Architectures.Onnx;

/// <summary>
/// Names for the slots of a graph output, written the way ML.NET's own ONNX export writes them and its
/// <c>OnnxTransformer</c> reads them back: an ONNX-ML <c>LabelEncoder</c> node named <c>mlnet.{output}.SlotNames</c>
/// whose <c>keys_strings</c> are the names, fed by a one-string constant, its int64 result a graph output of its own
/// that nobody asks for. ML.NET then annotates the output column with the names from the graph alone, so a model
/// loaded with plain <c>mlContext.Model.Load</c> (what Model Builder's generated code does) has <c>Score</c> slot names.
/// </summary>
internal static class OnnxSlotNames
{
    /// <summary>The constant, the node and the extra graph output that record <paramref name="names"/> for <paramref name="output"/>.</summary>
    public static (OnnxTensor Input, OnnxNode Node, OnnxValueInfo Output) For(string output, IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        string node = $"mlnet.{output}.SlotNames";
        string input = $"mlnet.{output}.unusedInput";
        string result = $"mlnet.{output}.unusedOutput";
        var attributes = new[]
        {
            new OnnxAttribute("keys_strings", Texts: names),
            new OnnxAttribute("values_int64s", Ints: Enumerable.Range(0, names.Count).Select(i => (long)i).ToArray()),
        };
        return (
            new OnnxTensor(input, new long[] { 1, 1 }, StringData: new[] { "one" }),
            new OnnxNode("LabelEncoder", node, new[] { input }, new[] { result }, attributes) { Domain = OnnxModel.MlDomain },
            new OnnxValueInfo(result, OnnxElementType.Int64, new long?[] { 1, 1 }));
    }
}
