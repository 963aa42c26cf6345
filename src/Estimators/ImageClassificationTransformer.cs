using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Onnx;
using MLNetCnn.Architectures.Weights;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators;

/// <summary>
/// A trained image classifier. <see cref="Transform"/> adds <c>Score</c> (class probabilities) and
/// <c>PredictedLabel</c> (a key with the training label's class names) by running the exported ONNX
/// graph in ONNX Runtime. Saving writes a chain of ML.NET's own transformers, so
/// <c>mlContext.Model.Load</c> returns an <see cref="ITransformer"/> that scores identically without
/// this library's training code (register this assembly first: see <see cref="CnnCatalog.LoadModel(string, out DataViewSchema)"/>).
/// </summary>
public sealed class ImageClassificationTransformer : ITransformer, IDisposable, IGatedModel, IRecordsPixelRange
{
    private readonly ScoringGate _gate = new();

    private readonly ServingModel _serving;
    private readonly byte[] _onnx;
    private readonly Dictionary<string, TorchSharp.torch.Tensor> _weights;
    private readonly IReadOnlyDictionary<string, string> _weightsMetadata;
    private readonly Backbone _backbone;

    private ImageClassificationTransformer(ServingModel serving, byte[] onnx, IReadOnlyList<string> classNames, ArchitectureConfig architecture, IReadOnlyList<EpochMetrics> history, Dictionary<string, TorchSharp.torch.Tensor> weights, IReadOnlyDictionary<string, string> weightsMetadata, Backbone backbone)
    {
        _backbone = backbone;
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

    bool IRecordsPixelRange.Records(string column, out string? recorded)
    {
        recorded = _weightsMetadata.GetValueOrDefault(WeightsMetadata.PixelRange);
        return column == _backbone.PixelColumn;
    }

    /// <summary>The architecture the model was built from (its <see cref="ArchitectureConfig.Name"/> is the registered name).</summary>
    public ArchitectureConfig Architecture { get; }

    /// <summary>Per-epoch metrics of the training run (the epoch whose weights were kept is marked <see cref="EpochMetrics.Restored"/> when early stopping ran).</summary>
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
    /// <exception cref="ObjectDisposedException">The transformer was disposed (its weights are gone).</exception>
    public void SaveWeights(string path) => SafeTensors.Write(path, Open()._weights, _weightsMetadata);

    /// <summary>
    /// A featurizer from this model's trained backbone: it takes the same input column and adds the embedding (the
    /// global average of the last feature map, a vector of Single) as <paramref name="outputColumnName"/>, for ML.NET's
    /// classic trainers or similarity search. The head is left out; the graph comes from the same block definitions.
    /// </summary>
    /// <param name="outputColumnName">The embedding column.</param>
    public ImageFeaturizerTransformer CreateFeaturizer(string outputColumnName = "Embedding")
    {
        Open();
        var b = _backbone;
        using var model = new NormalizedClassifier(Architecture.Create(b.Options), new InputNormalization(b.Mean, b.Std));
        using (TorchSharp.torch.no_grad())
        {
            var state = model.state_dict();
            foreach (var (key, value) in _weights)
            {
                state[key].copy_(value);
            }
        }

        model.eval();
        return ImageFeaturizerTransformer.Create(b.MLContext, model, Architecture.Name, b.PixelColumn, outputColumnName, b.Conversion, b.SchemaSource, b.GpuDeviceId, b.FallbackToCpu, b.PixelRange);
    }

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => ServedScoring.OutputSchema(Open(inputSchema)._serving.Chain, _backbone.SchemaSource.Schema, inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => ServedScoring.Mapper(Open(inputSchema)._serving.Chain, _backbone.SchemaSource.Schema, inputSchema);

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => ServedScoring.Transform(Open(input.Schema)._serving.Chain, _backbone.SchemaSource.Schema, input);

    /// <inheritdoc/>
    void ICanSaveModel.Save(ModelSaveContext ctx) => Open()._serving.Chain.Save(ctx);

    /// <inheritdoc/>
    ScoringGate IGatedModel.Gate => _gate;

    private ImageClassificationTransformer Open(DataViewSchema given)
    {
        Open();
        InputSchemaCheck.Check(_backbone.SchemaSource.Schema, given, ClassNames);
        return this;
    }

    private ImageClassificationTransformer Open() =>
        _gate.IsClosed ? throw ScoringGate.Disposed(nameof(ImageClassificationTransformer), "Train or load it again to use it.") : this;

    /// <summary>
    /// Releases the ONNX Runtime session, deletes the model's temporary ONNX file and frees the kept weights. Predictions of
    /// a <c>ScoringEnginePool</c> over this model that are in flight finish first; later ones, and every other use of the
    /// transformer, throw <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose()
    {
        if (_gate.IsClosed)
        {
            return;
        }

        _gate.Close();
        _serving.Dispose();
        foreach (var t in _weights.Values)
        {
            t.Dispose();
        }

        _weights.Clear();
    }

    /// <summary>
    /// Exports a trained network twice, the batch graph of <see cref="SaveOnnx(string)"/> and the one-row graph the chain serves
    /// (its <c>Score</c> a <c>Vector&lt;Single, K&gt;</c>), and builds the serving chain behind <paramref name="conversion"/> (the
    /// image-decoding steps, when any); <paramref name="testTimeFlip"/> scores images with their mirrors. <paramref name="pixelRange"/>,
    /// the least and greatest training pixel value of a pixel-vector column, goes into the graph's metadata.
    /// </summary>
    internal static ImageClassificationTransformer Create(MLContext mlContext, NormalizedClassifier model, ArchitectureConfig config, ArchitectureOptions architecture, IReadOnlyList<string> classNames, string labelColumn, string featureColumn, ITransformer? conversion, IDataView schemaSource, IReadOnlyList<EpochMetrics> history, int? gpuDeviceId, bool fallbackToCpu, bool testTimeFlip = false, (float Min, float Max)? pixelRange = null)
    {
        var shape = model.InputShape;
        var metadata = new Dictionary<string, string>
        {
            [WeightsMetadata.Architecture] = config.Name,
            [WeightsMetadata.ClassNames] = JsonSerializer.Serialize(classNames),
            [WeightsMetadata.InputShape] = JsonSerializer.Serialize(new[] { shape.Channels, shape.Height, shape.Width }),
            [WeightsMetadata.Mean] = JsonSerializer.Serialize(model.Normalization.Mean),
            [WeightsMetadata.Std] = JsonSerializer.Serialize(model.Normalization.Std),
        };
        PixelRange.Record(metadata, pixelRange);
        var export = new OnnxExportOptions { InputName = featureColumn, OutputName = ServingPipeline.ScoreColumnName, TestTimeFlip = testTimeFlip, Metadata = metadata };
        byte[] onnx = OnnxExporter.Export(model, export);
        var serving = ServingPipeline.Build(mlContext, OnnxExporter.Export(model, export with { OneRow = true, OutputSlotNames = classNames }), featureColumn, classNames, schemaSource.Schema.GetColumnOrNull(labelColumn), schemaSource, gpuDeviceId, fallbackToCpu, prefix: conversion);
        var weights = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().clone().DetachFromDisposeScope(), StringComparer.Ordinal);
        var weightsMetadata = new Dictionary<string, string>(metadata)
        {
            [WeightsMetadata.WidthMultiplier] = config.Width.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [WeightsMetadata.SmallInputStem] = architecture.SmallInputStem ? "true" : "false",
        };
        var backbone = new Backbone(mlContext, architecture, model.Normalization.Mean.ToArray(), model.Normalization.Std.ToArray(), featureColumn, conversion, schemaSource, gpuDeviceId, fallbackToCpu, pixelRange);
        return new ImageClassificationTransformer(serving, onnx, classNames, config, history, weights, weightsMetadata, backbone);
    }

    /// <summary>What rebuilding the trained network for a featurizer takes besides the config and weights.</summary>
    private sealed record Backbone(MLContext MLContext, ArchitectureOptions Options, float[] Mean, float[] Std, string PixelColumn, ITransformer? Conversion, IDataView SchemaSource, int? GpuDeviceId, bool FallbackToCpu, (float Min, float Max)? PixelRange);
}
