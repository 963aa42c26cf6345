using Microsoft.ML;

namespace MLNetCnn.Estimators.Serving;

/// <summary>
/// Builds the chain of ML.NET's own transformers that serves a trained model: ONNX Runtime computes
/// <c>Score</c> (softmax inside the graph), a stateless arg-max gives the class index, and a value
/// mapping plus <c>MapValueToKey</c> (keyed on the training label's class names, in order) gives a
/// <c>PredictedLabel</c> key that <c>MapKeyToValue</c> turns back into names. Every step round-trips
/// through <c>mlContext.Model.Save/Load</c>, and none of them loads libtorch.
/// </summary>
internal static class ServingPipeline
{
    public const string ScoreColumnName = "Score";
    public const string PredictedLabelColumnName = "PredictedLabel";
    private const string PredictedValueColumnName = "PredictedLabelValue";

    /// <summary>
    /// Builds the chain. The ONNX bytes go to <paramref name="modelFile"/>, a file in
    /// <c>MLContext.TempFilePath</c> that the caller owns and deletes after disposing the chain:
    /// ML.NET 5.0.1's own temporary copy (what <c>ApplyOnnxModel</c> makes from a stream) is not
    /// deleted when the transformer is disposed, so every fitted model left one behind.
    /// </summary>
    public static ITransformer Build(MLContext mlContext, byte[] onnx, string featureColumnName, IReadOnlyList<string> classNames, IDataView schemaSource, int? gpuDeviceId, bool fallbackToCpu, out string modelFile)
    {
        modelFile = Path.Combine(mlContext.TempFilePath, $"mlnetcnn-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(modelFile, onnx);
        try
        {
            return Build(mlContext, modelFile, featureColumnName, classNames, schemaSource, gpuDeviceId, fallbackToCpu);
        }
        catch
        {
            File.Delete(modelFile);
            throw;
        }
    }

    private static ITransformer Build(MLContext mlContext, string modelFile, string featureColumnName, IReadOnlyList<string> classNames, IDataView schemaSource, int? gpuDeviceId, bool fallbackToCpu)
    {
        try
        {
            var names = classNames.Select((n, i) => new KeyValuePair<uint, string>((uint)i, n));
            var keyData = mlContext.Data.LoadFromEnumerable(classNames.Select(n => new ClassName { Value = n }));
            var pipeline = mlContext.Transforms.ApplyOnnxModel(new[] { ScoreColumnName }, new[] { featureColumnName }, modelFile, gpuDeviceId, fallbackToCpu)
                .Append(mlContext.Transforms.CustomMapping<ScoreInput, PredictedIndexOutput>(ScoreArgMax.Map, ScoreArgMax.ContractName))
                .Append(mlContext.Transforms.Conversion.MapValue(PredictedValueColumnName, names, ScoreArgMax.OutputColumnName))
                .Append(mlContext.Transforms.Conversion.MapValueToKey(PredictedLabelColumnName, PredictedValueColumnName, keyData: keyData))
                .Append(mlContext.Transforms.DropColumns(ScoreArgMax.OutputColumnName, PredictedValueColumnName));
            return pipeline.Fit(schemaSource);
        }
        catch (InvalidOperationException e) when (gpuDeviceId is not null && !fallbackToCpu)
        {
            throw new InvalidOperationException($"Scoring on GPU {gpuDeviceId} through ONNX Runtime's CUDA provider failed, and FallbackToCpu is false (set it, or MLContext.FallbackToCpu, to score on the CPU instead): {e.Message.Split('\n')[0]}", e);
        }
    }

    private sealed class ClassName
    {
        public string Value { get; set; } = string.Empty;
    }
}
