using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Weights;
using MLNetCnn.Estimators.Serving;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators;

/// <summary>
/// A trained image classifier. <see cref="Transform"/> adds <c>Score</c> (class probabilities) and
/// <c>PredictedLabel</c> (a key with the training label's class names) by running the exported ONNX
/// graph in ONNX Runtime. Saving writes a chain of ML.NET's own transformers, so
/// <c>mlContext.Model.Load</c> returns an <see cref="ITransformer"/> that scores identically without
/// this library's training code (register this assembly first: see <see cref="CnnCatalog.LoadModel(string, out DataViewSchema)"/>).
/// </summary>
public sealed class ImageClassificationTransformer : ITransformer, IDisposable
{
    private readonly ServingModel _serving;
    private readonly byte[] _onnx;
    private readonly Dictionary<string, TorchSharp.torch.Tensor> _weights;
    private readonly IReadOnlyDictionary<string, string> _weightsMetadata;

    internal ImageClassificationTransformer(ServingModel serving, byte[] onnx, IReadOnlyList<string> classNames, string architecture, IReadOnlyList<EpochMetrics> history, Dictionary<string, TorchSharp.torch.Tensor> weights, IReadOnlyDictionary<string, string> weightsMetadata)
    {
        _serving = serving;
        _onnx = onnx;
        _weights = weights;
        _weightsMetadata = weightsMetadata;
        ClassNames = classNames;
        Architecture = architecture;
        TrainingHistory = history;
    }

    /// <summary>Class names in score order (the training label's key values).</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Registered architecture name the model was built from.</summary>
    public string Architecture { get; }

    /// <summary>Per-epoch metrics of the training run.</summary>
    public IReadOnlyList<EpochMetrics> TrainingHistory { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => _serving.Chain.IsRowToRowMapper;

    /// <summary>The ONNX model (input: flat pixel vector [N, C*H*W] in training units; output: <c>Score</c> [N, classes] probabilities).</summary>
    public ReadOnlyMemory<byte> OnnxModel => _onnx;

    /// <summary>Writes the ONNX model to a file, for use outside .NET.</summary>
    public void SaveOnnx(string path) => File.WriteAllBytes(path, _onnx);

    /// <summary>Writes the ONNX model to a stream.</summary>
    public void SaveOnnx(Stream stream) => stream.Write(_onnx);

    /// <summary>
    /// Writes the trained weights (float32, by state_dict key, with the architecture, class names, input
    /// shape and normalization as metadata) as safetensors: the starting point for continued training
    /// (<c>Options.InitialWeights</c>) or for PyTorch. <c>model.zip</c> holds only the ONNX graph.
    /// </summary>
    public void SaveWeights(string path) => SafeTensors.Write(path, _weights, _weightsMetadata);

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _serving.Chain.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _serving.Chain.GetRowToRowMapper(inputSchema);

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => _serving.Chain.Transform(input);

    /// <inheritdoc/>
    void ICanSaveModel.Save(ModelSaveContext ctx) => _serving.Chain.Save(ctx);

    /// <summary>Releases the ONNX Runtime session, deletes the model's temporary ONNX file and frees the kept weights.</summary>
    public void Dispose()
    {
        _serving.Dispose();
        foreach (var t in _weights.Values)
        {
            t.Dispose();
        }

        _weights.Clear();
    }
}
