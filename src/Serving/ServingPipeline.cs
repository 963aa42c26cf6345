using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

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
    public const string PredictedValueColumnName = "PredictedLabelValue";

    /// <summary>
    /// Builds the classifier's chain, behind <paramref name="prefix"/> when given (the image-decoding steps). The ONNX
    /// bytes go to a file in <c>MLContext.TempFilePath</c> that the returned <see cref="ServingModel"/> owns:
    /// ML.NET 5.0.1's own temporary copy (what <c>ApplyOnnxModel</c> makes from a stream) is not deleted
    /// when the transformer is disposed, so every fitted model left one behind.
    /// </summary>
    /// <remarks>
    /// <paramref name="label"/> is the training label: <c>PredictedLabel</c> keeps its key values' type (text when it has none).
    /// </remarks>
    public static ServingModel Build(MLContext mlContext, byte[] onnx, string featureColumnName, IReadOnlyList<string> classNames, DataViewSchema.Column? label, IDataView schemaSource, int? gpuDeviceId, bool fallbackToCpu, ITransformer? prefix = null) =>
        Build(mlContext, onnx, prefix, gpuDeviceId, fallbackToCpu, modelFile =>
            mlContext.Transforms.ApplyOnnxModel(new[] { ScoreColumnName }, new[] { featureColumnName }, modelFile, gpuDeviceId, fallbackToCpu)
                .Append(mlContext.Transforms.CustomMapping<ScoreInput, PredictedIndexOutput>(ScoreArgMax.Map, ScoreArgMax.ContractName))
                .Append(ClassKeyValues.PredictedLabel(mlContext, classNames, label))
                .Append(mlContext.Transforms.DropColumns([ScoreArgMax.OutputColumnName, PredictedValueColumnName, .. Internal(featureColumnName, prefix)]))
                .Fit(schemaSource));

    /// <summary>The featurizer's chain: one <c>ApplyOnnxModel</c> from the pixel column to <paramref name="outputColumnName"/>, behind <paramref name="prefix"/>.</summary>
    public static ServingModel BuildFeaturizer(MLContext mlContext, byte[] onnx, string featureColumnName, string outputColumnName, IDataView schemaSource, int? gpuDeviceId, bool fallbackToCpu, ITransformer? prefix = null) =>
        Build(mlContext, onnx, prefix, gpuDeviceId, fallbackToCpu, modelFile =>
        {
            var scoring = mlContext.Transforms.ApplyOnnxModel(new[] { outputColumnName }, new[] { featureColumnName }, modelFile, gpuDeviceId, fallbackToCpu);
            return prefix is null ? scoring.Fit(schemaSource) : scoring.Append(mlContext.Transforms.DropColumns(Internal(featureColumnName, prefix))).Fit(schemaSource);
        });

    /// <summary>
    /// The pixel column that the image-decoding <paramref name="prefix"/> adds for the network: dropped after it, so the
    /// output has only the columns the estimator promises (before, <c>mlnetcnn_pixels</c> showed, and reading it beside
    /// <c>Score</c>, as <c>Preview</c> does, failed in ML.NET's image steps with "Object is disposed").
    /// </summary>
    private static string[] Internal(string featureColumnName, ITransformer? prefix) => prefix is null ? [] : [featureColumnName];

    private static ServingModel Build(MLContext mlContext, byte[] onnx, ITransformer? prefix, int? gpuDeviceId, bool fallbackToCpu, Func<string, ITransformer> chain)
    {
        string modelFile = TempGraphFiles.Write(mlContext.TempFilePath, onnx);
        try
        {
            var scoring = chain(modelFile);
            return new ServingModel(prefix is null ? scoring : new TransformerChain<ITransformer>(prefix, scoring), modelFile);
        }
        catch (InvalidOperationException e) when (gpuDeviceId is { } id && !fallbackToCpu)
        {
            TempGraphFiles.Delete(modelFile);
            throw GpuUnavailable(id, e);
        }
        catch
        {
            TempGraphFiles.Delete(modelFile);
            throw;
        }
    }

    /// <summary>
    /// Fails now, as building the chain would after training, when <paramref name="gpuDeviceId"/> is set, falling back
    /// is not allowed and ONNX Runtime's CUDA provider cannot be created (no CUDA on this machine): an estimator calls it
    /// before reading any data, so the answer does not wait for a whole training run.
    /// </summary>
    public static void CheckScoringDevice(int? gpuDeviceId, bool fallbackToCpu)
    {
        if (gpuDeviceId is not { } id || fallbackToCpu)
        {
            return;
        }

        try
        {
            using var options = Microsoft.ML.OnnxRuntime.SessionOptions.MakeSessionOptionWithCudaProvider(id);
        }
        catch (Exception e) when (e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException)
        {
            throw GpuUnavailable(id, e);
        }
    }

    private static InvalidOperationException GpuUnavailable(int gpuDeviceId, Exception e) =>
        new($"Scoring on GPU {gpuDeviceId} through ONNX Runtime's CUDA provider failed, and FallbackToCpu is false (set it, or MLContext.FallbackToCpu, to score on the CPU instead): {e.Message.Split('\n')[0]}", e);
}

/// <summary>A serving chain and the ONNX file it scores from; disposing releases the ONNX Runtime session and deletes the file.</summary>
internal sealed class ServingModel(ITransformer chain, string modelFile) : IDisposable
{
    /// <summary>The chain that scores.</summary>
    public ITransformer Chain { get; } = chain;

    public void Dispose()
    {
        (Chain as IDisposable)?.Dispose();
        TempGraphFiles.Delete(modelFile);
    }
}
