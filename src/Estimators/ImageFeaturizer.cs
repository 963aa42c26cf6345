using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetCnn.Architectures.Families;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Onnx;
using MLNetCnn.Architectures.Runtime;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators;

/// <summary>
/// Applies a backbone (from a trained <see cref="ImageClassificationTransformer"/>, or an architecture with initial
/// weights) and adds its embedding: a vector of Single, the global average of the last feature map
/// (<see cref="ImageClassifier.ForwardEmbedding"/>), for ML.NET's classic trainers (SDCA, LightGBM) or similarity
/// search. It runs as an ONNX graph exported from the same block definitions as the classifier, so the saved chain is
/// ML.NET's own transformers and loads with MLNetCnn.Serving alone.
/// </summary>
public sealed class ImageFeaturizerTransformer : ITransformer, IDisposable, IRecordsPixelRange
{
    private readonly ServingModel _serving;
    private readonly byte[] _onnx;
    private readonly DataViewSchema _trainedOn;
    private readonly string _pixelColumn;
    private readonly string? _pixelRange;

    private ImageFeaturizerTransformer(ServingModel serving, byte[] onnx, DataViewSchema trainedOn, string outputColumnName, int embeddingSize, string pixelColumn, string? pixelRange)
    {
        _serving = serving;
        _onnx = onnx;
        _trainedOn = trainedOn;
        OutputColumnName = outputColumnName;
        EmbeddingSize = embeddingSize;
        _pixelColumn = pixelColumn;
        _pixelRange = pixelRange;
    }

    bool IRecordsPixelRange.Records(string column, out string? recorded)
    {
        recorded = _pixelRange;
        return column == _pixelColumn;
    }

    /// <summary>The column the embedding goes to.</summary>
    public string OutputColumnName { get; }

    /// <summary>Length of the embedding (the backbone's <see cref="ImageClassifier.NumFeatures"/>).</summary>
    public int EmbeddingSize { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => _serving.Chain.IsRowToRowMapper;

    /// <summary>Writes the features graph (input: flat pixel vector [N, C*H*W]; output: [N, <see cref="EmbeddingSize"/>]) as ONNX.</summary>
    public void SaveOnnx(string path) => File.WriteAllBytes(path, _onnx);

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => ServedScoring.OutputSchema(Checked(inputSchema), _trainedOn, inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => ServedScoring.Mapper(Checked(inputSchema), _trainedOn, inputSchema);

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => ServedScoring.Transform(Checked(input.Schema), _trainedOn, input);

    /// <inheritdoc/>
    void ICanSaveModel.Save(ModelSaveContext ctx) => _serving.Chain.Save(ctx);

    /// <summary>Releases the ONNX Runtime session and deletes the temporary ONNX file.</summary>
    public void Dispose() => _serving.Dispose();

    /// <summary>The chain, once <paramref name="given"/>'s vector columns match those the featurizer was fitted on (<see cref="InputSchemaCheck"/>).</summary>
    private ITransformer Checked(DataViewSchema given)
    {
        InputSchemaCheck.Check(_trainedOn, given);
        return _serving.Chain;
    }

    /// <summary>Exports the embedding of <paramref name="model"/> and builds its chain behind <paramref name="conversion"/>.</summary>
    internal static ImageFeaturizerTransformer Create(MLContext mlContext, NormalizedClassifier model, string architecture, string pixelColumn, string outputColumnName, ITransformer? conversion, IDataView schemaSource, int? gpuDeviceId, bool fallbackToCpu, (float Min, float Max)? pixelRange = null)
    {
        var metadata = new Dictionary<string, string>
        {
            [WeightsMetadata.Architecture] = architecture,
            [WeightsMetadata.Mean] = JsonSerializer.Serialize(model.Normalization.Mean),
            [WeightsMetadata.Std] = JsonSerializer.Serialize(model.Normalization.Std),
        };
        PixelRange.Record(metadata, pixelRange);
        var export = new OnnxExportOptions { InputName = pixelColumn, OutputName = outputColumnName, Output = OnnxOutput.Embedding, Metadata = metadata };
        byte[] onnx = OnnxExporter.Export(model, export);
        var serving = ServingPipeline.BuildFeaturizer(mlContext, OnnxExporter.Export(model, export with { OneRow = true }), pixelColumn, outputColumnName, schemaSource, gpuDeviceId, fallbackToCpu, conversion);
        return new ImageFeaturizerTransformer(serving, onnx, schemaSource.Schema, outputColumnName, model.NumFeatures, pixelColumn, metadata.GetValueOrDefault(WeightsMetadata.PixelRange));
    }
}

/// <summary>
/// Builds an <see cref="ImageFeaturizerTransformer"/> from an architecture and its initial weights (a torchvision
/// checkpoint, or weights this library saved), without training: <c>Fit</c> reads the data only for the input
/// normalization when neither the options nor the weights file give it, and for the units of a pixel-vector column
/// (its least and greatest value, which <c>CnnServing().WithImageBytesInput</c> serves it in).
/// </summary>
/// <inheritdoc cref="ImageFeaturizerTransformer" path="/summary"/>
public sealed class ImageFeaturizerEstimator : IEstimator<ImageFeaturizerTransformer>
{
    private readonly MLContext _mlContext;
    private readonly Options _options;
    private readonly IHost _host;

    internal ImageFeaturizerEstimator(MLContext mlContext, Options options)
    {
        _mlContext = mlContext ?? throw new ArgumentNullException(nameof(mlContext));
        _options = (options ?? throw new ArgumentNullException(nameof(options))).Clone();
        _host = ((IHostEnvironment)mlContext).Register(nameof(ImageFeaturizerEstimator));
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        FeatureColumns.Resolve(_options.FeatureColumnName, inputSchema.Select(c => (c.Name, c.ItemType, c.Kind == SchemaShape.Column.VectorKind.Scalar)));
        // The embedding is a vector of known size (the backbone's feature count).
        var added = new DataViewSchema.Builder();
        added.AddColumn(_options.OutputColumnName, new VectorDataViewType(NumberDataViewType.Single, 1));
        return SchemaShapes.WithColumns(inputSchema, added.ToSchema());
    }

    /// <summary>Builds the backbone with its initial weights and exports its embedding.</summary>
    public ImageFeaturizerTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var o = _options;
        ServingPipeline.CheckScoringDevice(o.GpuDeviceId ?? _mlContext.GpuDeviceId, o.FallbackToCpu ?? _mlContext.FallbackToCpu);
        using var channel = _host.Start("Featurizer");
        var plan = ImageColumn.Prepare(_mlContext, input, o.FeatureColumnName, o.ImageShape, o.Architecture, message => channel.Info(MessageSensitivity.None, message));
        var (shape, converted) = (plan.Shape, plan.Apply(input));
        if (string.Equals(o.OutputColumnName, o.FeatureColumnName, StringComparison.Ordinal) || string.Equals(o.OutputColumnName, plan.PixelColumn, StringComparison.Ordinal))
        {
            throw new ArgumentException($"OutputColumnName '{o.OutputColumnName}' is the name of the input column; the embedding needs a name of its own (the default is 'Embedding').");
        }

        DataViewImageReader.CheckFeatureColumn(converted.Schema, plan.PixelColumn, shape);
        if (o.WidthMultiplier is { } width)
        {
            ArchitectureConfig.CheckWidth(width, nameof(o.WidthMultiplier));
        }

        var config = o.WidthMultiplier is { } w ? o.Architecture with { Width = w } : o.Architecture;
        var architecture = new ArchitectureOptions { NumClasses = 2, InputChannels = shape.Channels, InputSize = shape.Height, SmallInputStem = o.SmallInputStem ?? shape.Height < 64 };
        ModelMemory.Check(config, architecture);
        PixelStatistics? statistics = null;
        var (initial, mean, std) = ImageClassificationTrainer.StartingPoint(o.InitialWeights, o.Mean, o.Std, shape, () =>
        {
            statistics = ReadStatistics(input, plan);
            return (statistics.Mean, statistics.Std);
        });

        // The units alone need no pass over all the data (the normalization given): its first rows tell them. Fitting on no
        // rows, as a pretrained featurizer may be, records none.
        var pixelRange = HasRows(input) ? PixelRange.Of(plan, () => statistics ?? ReadStatistics(_mlContext.Data.TakeRows(input, ImageSources.StatisticsSampleSize), plan)) : null;
        using var generator = GlobalGenerator.Take(log: message => channel.Info(MessageSensitivity.None, message));
        TorchSharp.torch.random.manual_seed(o.Seed);
        using var model = new NormalizedClassifier(config.Create(architecture), new InputNormalization(mean, std));
        if (initial is not null)
        {
            ImageClassificationTrainer.LoadInitialWeights(model, initial, o.InitialWeights!, config, channel);
        }

        model.eval();
        return ImageFeaturizerTransformer.Create(_mlContext, model, config.Name, plan.PixelColumn, o.OutputColumnName, plan.Conversion, converted, o.GpuDeviceId ?? _mlContext.GpuDeviceId, o.FallbackToCpu ?? _mlContext.FallbackToCpu, pixelRange);
    }

    /// <summary>
    /// The images' statistics (no labels: every image counts as class 0 of 2): the input normalization when neither the
    /// options nor the weights give it, and the units of a pixel-vector column.
    /// </summary>
    private static bool HasRows(IDataView input)
    {
        using var cursor = input.GetRowCursor([]);
        return cursor.MoveNext();
    }

    private PixelStatistics ReadStatistics(IDataView input, ImageColumnPlan plan)
    {
        using var images = DataViewImageSource.Read(_mlContext, input, plan, labelColumnName: null, numClasses: 2, "featurizer", new DataOptions(), CancellationToken.None);
        return images.Statistics();
    }

    /// <summary>What the featurizer is built from.</summary>
    public sealed class Options
    {
        /// <summary>The image column (pixels, MLImage, bytes or paths; an image folder's <c>ImagePath</c> is found by itself).</summary>
        public string FeatureColumnName { get; set; } = "Features";

        /// <summary>The embedding column to add.</summary>
        public string OutputColumnName { get; set; } = "Embedding";

        /// <summary>The backbone's architecture.</summary>
        public ArchitectureConfig Architecture { get; set; } = ResNetConfig.ResNet18;

        /// <summary>When set, replaces the architecture's width.</summary>
        public double? WidthMultiplier { get; set; }

        /// <summary>Shape of one image; null infers it from a pixel vector, and means RGB at the architecture's native input size (224 for most) for image columns.</summary>
        public ImageShape? ImageShape { get; set; }

        /// <summary>Use the architecture's small-input stem; null chooses it for images under 64 pixels.</summary>
        public bool? SmallInputStem { get; set; }

        /// <summary>Weights to start from (.pth, .safetensors); null keeps the seeded random initialization.</summary>
        public string? InitialWeights { get; set; }

        /// <summary>Per-channel mean in input units; null takes the weights file's, else the data's.</summary>
        public float[]? Mean { get; set; }

        /// <summary>Per-channel standard deviation in input units; null takes the weights file's, else the data's.</summary>
        public float[]? Std { get; set; }

        /// <summary>Seed of the random initialization (what <see cref="InitialWeights"/> does not cover).</summary>
        public int Seed { get; set; } = 1;

        /// <summary>GPU for ONNX Runtime; null takes <c>MLContext.GpuDeviceId</c>.</summary>
        public int? GpuDeviceId { get; set; }

        /// <summary>Fall back to the CPU when the GPU provider cannot be used; null takes <c>MLContext.FallbackToCpu</c>.</summary>
        public bool? FallbackToCpu { get; set; }

        internal Options Clone()
        {
            var copy = (Options)MemberwiseClone();
            copy.Mean = Mean?.ToArray();
            copy.Std = Std?.ToArray();
            return copy;
        }
    }
}
