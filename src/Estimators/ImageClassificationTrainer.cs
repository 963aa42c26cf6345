using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Onnx;
using MLNetCnn.Architectures.Weights;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Estimators.Serving;
using MLNetCnn.Tricks.Augmentation;
using MLNetCnn.Tricks.Distillation;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Regularization;
using MLNetCnn.Tricks.Schedules;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators;

/// <summary>
/// Trains a convolutional image classifier (any registered architecture) on TorchSharp and returns an
/// <see cref="ImageClassificationTransformer"/> that scores through ONNX Runtime.
/// </summary>
/// <remarks>
/// <list type="table">
/// <item><term>Input columns</term><description>Label: key type (at least 2 classes). Features: vector of Single with C x H x W pixel values, channels first, in any units (normalization is learned from the data and baked into the model).</description></item>
/// <item><term>Output columns</term><description>Score: vector of Single (probabilities). PredictedLabel: key type with the label's key values.</description></item>
/// <item><term>Training</term><description>SGD with momentum on cross-entropy, TorchSharp, CUDA when present else CPU.</description></item>
/// <item><term>Serving</term><description>ONNX Runtime (Microsoft.ML.OnnxTransformer); no libtorch.</description></item>
/// </list>
/// </remarks>
public sealed class ImageClassificationTrainer : IEstimator<ImageClassificationTransformer>
{
    private readonly MLContext _mlContext;
    private readonly Options _options;
    private readonly IHost _host;

    internal ImageClassificationTrainer(MLContext mlContext, Options options)
    {
        _mlContext = mlContext ?? throw new ArgumentNullException(nameof(mlContext));
        _options = (options ?? throw new ArgumentNullException(nameof(options))).Clone();
        _host = ((IHostEnvironment)mlContext).Register(nameof(ImageClassificationTrainer));
        if (string.IsNullOrWhiteSpace(_options.Arch))
        {
            throw new ArgumentException($"Options.Arch is {(_options.Arch is null ? "null" : "empty")}; set it to a registered architecture: {string.Join(", ", ModelRegistry.Names)}.", nameof(Options.Arch));
        }

        ModelRegistry.Get(_options.Arch);
        _options.ToTrainerOptions().Validate();
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var label = inputSchema.FirstOrDefault(c => c.Name == _options.LabelColumnName);
        if (label.Name is null)
        {
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Label column '{_options.LabelColumnName}' not found.");
        }

        if (!label.IsKey)
        {
            throw new ArgumentException($"Label column '{_options.LabelColumnName}' must be a key type (use MapValueToKey); found {label.ItemType}.");
        }

        var features = inputSchema.FirstOrDefault(c => c.Name == _options.FeatureColumnName);
        if (features.Name is null)
        {
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Feature column '{_options.FeatureColumnName}' not found.");
        }

        bool pixels = features.Kind == SchemaShape.Column.VectorKind.Vector && features.ItemType == NumberDataViewType.Single;
        bool image = features.Kind == SchemaShape.Column.VectorKind.Scalar && ImageInput.Classify(features.ItemType) is ImageColumnKind.Image or ImageColumnKind.Path;
        bool bytes = features.Kind != SchemaShape.Column.VectorKind.Scalar && features.ItemType == NumberDataViewType.Byte;
        if (!pixels && !image && !bytes)
        {
            throw new ArgumentException($"Feature column '{_options.FeatureColumnName}' must be a known-size vector of Single (pixels), an image (LoadImages), a vector of Byte (LoadRawImageBytes) or text (image paths); found {features.Kind} of {features.ItemType}.");
        }

        var added = new DataViewSchema.Builder();
        added.AddColumn(ServingPipeline.ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single));
        var keyValues = new DataViewSchema.Annotations.Builder();
        keyValues.Add("KeyValues", new VectorDataViewType(TextDataViewType.Instance, 2), (ref VBuffer<ReadOnlyMemory<char>> v) => v = default);
        added.AddColumn(ServingPipeline.PredictedLabelColumnName, new KeyDataViewType(typeof(uint), 2), keyValues.ToAnnotations());
        var result = inputSchema.ToDictionary(c => c.Name);
        foreach (var column in SchemaShapes.FromSchema(added.ToSchema()))
        {
            result[column.Name] = column;
        }

        return new SchemaShape(result.Values);
    }

    /// <summary>Trains on <paramref name="input"/> and returns the trained transformer.</summary>
    public ImageClassificationTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var column = input.Schema.GetColumnOrNull(_options.FeatureColumnName);
        var kind = column is { } c ? ImageInput.Classify(c.Type) : ImageColumnKind.Pixels;
        if (kind == ImageColumnKind.Pixels)
        {
            return Fit(input, new ImageColumnPlan(kind, _options.FeatureColumnName, _options.FeatureColumnName, Conversion: null, ResolveShape(input.Schema)));
        }

        // Image, path or bytes column: decode, resize and extract in the pipeline, in training and in the saved model.
        var shape = _options.ImageShape?.Validate(nameof(Options.ImageShape)) ?? DefaultImageShape;
        var conversion = ImageInput.Conversion(_mlContext, input, _options.FeatureColumnName, kind, shape);
        return Fit(input, new ImageColumnPlan(kind, _options.FeatureColumnName, ImageInput.PixelColumnName, conversion, shape));
    }

    /// <summary>Image shape used for image, path and bytes columns when <see cref="Options.ImageShape"/> is null.</summary>
    public static ImageShape DefaultImageShape { get; } = new(3, 224, 224);

    private ImageClassificationTransformer Fit(IDataView input, ImageColumnPlan plan)
    {
        var o = _options;
        var shape = plan.Shape;
        if (shape.Height != shape.Width)
        {
            throw new ArgumentException($"Image shape {shape}: only square images are supported; resize in the pipeline first.");
        }

        var converted = plan.Conversion?.Transform(input) ?? input;
        var (numClasses, classNames) = DataViewImageReader.CheckSchema(converted.Schema, o.LabelColumnName, plan.PixelColumn, shape);
        using var channel = _host.Start("Training");
        var trainerOptions = o.ToTrainerOptions();
        using var trainImages = DataViewImageSource.Read(_mlContext, input, plan, o.LabelColumnName, numClasses, "training", trainerOptions.Data, o.CancellationToken);
        var train = o.TeacherScoreColumnName is { } teacherColumn
            ? trainImages.WithTeacherLogits(TeacherScores.ReadLogits(input, teacherColumn, numClasses, trainImages.Count))
            : trainImages;
        using var validation = o.ValidationSet is { } validationData ? ReadValidation(validationData, plan, numClasses, trainerOptions.Data) : null;
        channel.Info(MessageSensitivity.None, $"training data: {DataViewImageSource.Describe(train)}{(validation is null ? string.Empty : $"; validation data: {DataViewImageSource.Describe(validation)}")}");

        // Starting weights: read first, because weights this library saved carry their input normalization.
        Dictionary<string, TorchSharp.torch.Tensor>? initial = null;
        Dictionary<string, string> initialMetadata = new();
        if (o.InitialWeights is { } weightsPath)
        {
            (initial, initialMetadata) = PretrainedWeights.Read(weightsPath);
        }

        var (mean, std) = o.Mean is not null && o.Std is not null ? (o.Mean, o.Std)
            : initialMetadata.TryGetValue(WeightsMetadata.Mean, out var savedMean) && initialMetadata.TryGetValue(WeightsMetadata.Std, out var savedStd)
                && JsonSerializer.Deserialize<float[]>(savedMean) is { } m && m.Length == shape.Channels
                ? (m, JsonSerializer.Deserialize<float[]>(savedStd)!)
            : train.ChannelStatistics();
        channel.Info(MessageSensitivity.None, $"{o.Arch}: {train.Count} training images of {shape}, {numClasses} classes{(validation is null ? string.Empty : $", {validation.Count} validation images")}.");

        TorchSharp.torch.random.manual_seed(o.Seed);
        var architecture = new ArchitectureOptions
        {
            NumClasses = numClasses,
            InputChannels = shape.Channels,
            InputSize = shape.Height,
            SmallInputStem = o.SmallInputStem ?? shape.Height < 64,
            WidthMultiplier = o.WidthMultiplier,
        };
        using var model = new NormalizedClassifier(ModelRegistry.Create(o.Arch, architecture), new InputNormalization(mean, std));
        if (initial is not null)
        {
            var report = PretrainedWeights.Load(model, initial);
            foreach (var t in initial.Values)
            {
                t.Dispose();
            }

            if (report.Loaded.Count + report.Adapted.Count == 0)
            {
                throw new InvalidDataException($"No tensor of '{o.InitialWeights}' fits {o.Arch} ({report}); is it a checkpoint of another architecture?");
            }

            channel.Info(MessageSensitivity.None, $"initial weights {o.InitialWeights}: {report}");
        }

        if (o.FreezeBackboneEpochs > 0)
        {
            var head = PretrainedWeights.HeadParameterNames(model.Network, o.Arch, architecture);
            var frozen = model.named_parameters().Select(p => p.name)
                .Where(n => n.StartsWith("network.", StringComparison.Ordinal) && !head.Contains(n["network.".Length..]))
                .ToHashSet(StringComparer.Ordinal);
            trainerOptions = trainerOptions with { FrozenParameters = frozen, FreezeEpochs = o.FreezeBackboneEpochs };
            channel.Info(MessageSensitivity.None, $"backbone frozen for {o.FreezeBackboneEpochs} epoch(s): {frozen.Count} parameters fixed, the head ({string.Join(", ", head)}) trains");
        }

        var trainer = new ClassifierTrainer(trainerOptions, o.MetricsCallback, message => channel.Info(MessageSensitivity.None, message), o.ProgressCallback);
        var history = trainer.Fit(model, train, validation, o.CancellationToken);

        var metadata = new Dictionary<string, string>
        {
            [WeightsMetadata.Architecture] = o.Arch,
            [WeightsMetadata.ClassNames] = JsonSerializer.Serialize(classNames),
            [WeightsMetadata.InputShape] = JsonSerializer.Serialize(new[] { shape.Channels, shape.Height, shape.Width }),
            [WeightsMetadata.Mean] = JsonSerializer.Serialize(mean),
            [WeightsMetadata.Std] = JsonSerializer.Serialize(std),
        };
        byte[] onnx = OnnxExporter.Export(model, new OnnxExportOptions { InputName = plan.PixelColumn, OutputName = ServingPipeline.ScoreColumnName, Metadata = metadata });
        var serving = ServingPipeline.Build(_mlContext, onnx, plan.PixelColumn, classNames, converted, o.GpuDeviceId ?? _mlContext.GpuDeviceId, o.FallbackToCpu ?? _mlContext.FallbackToCpu, prefix: plan.Conversion);

        var weights = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().clone().DetachFromDisposeScope(), StringComparer.Ordinal);
        var weightsMetadata = new Dictionary<string, string>(metadata)
        {
            [WeightsMetadata.WidthMultiplier] = o.WidthMultiplier.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [WeightsMetadata.SmallInputStem] = architecture.SmallInputStem ? "true" : "false",
        };
        return new ImageClassificationTransformer(serving, onnx, classNames, o.Arch, history, weights, weightsMetadata);
    }

    private IImageSource ReadValidation(IDataView validationData, ImageColumnPlan plan, int numClasses, DataOptions data)
    {
        var converted = plan.Conversion?.Transform(validationData) ?? validationData;
        var (validationClasses, _) = DataViewImageReader.CheckSchema(converted.Schema, _options.LabelColumnName, plan.PixelColumn, plan.Shape);
        if (validationClasses != numClasses)
        {
            throw new ArgumentException($"Validation label column '{_options.LabelColumnName}' has {validationClasses} classes; the training data has {numClasses}.");
        }

        return DataViewImageSource.Read(_mlContext, validationData, plan, _options.LabelColumnName, numClasses, "validation", data, _options.CancellationToken);
    }

    private ImageShape ResolveShape(DataViewSchema schema)
    {
        if (_options.ImageShape is { } declared)
        {
            return declared.Validate(nameof(Options.ImageShape));
        }

        var column = schema.GetColumnOrNull(_options.FeatureColumnName);
        if (column?.Type is VectorDataViewType { Size: > 0 } vector)
        {
            int side = (int)Math.Round(Math.Sqrt(vector.Size));
            if (side * side == vector.Size)
            {
                return new ImageShape(1, side, side);
            }

            side = (int)Math.Round(Math.Sqrt(vector.Size / 3.0));
            if (3 * side * side == vector.Size)
            {
                return new ImageShape(3, side, side);
            }

            throw new ArgumentException($"Feature column '{_options.FeatureColumnName}' has {vector.Size} values, which is not a square grey or RGB image; set Options.ImageShape.");
        }

        DataViewImageReader.CheckFeatureColumn(schema, _options.FeatureColumnName, new ImageShape(1, 1, 1));
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>Default values of <see cref="Options"/>.</summary>
    public static class Defaults
    {
        /// <summary>Architecture name.</summary>
        public const string Arch = "resnet18";

        /// <summary>Epochs.</summary>
        public const int Epoch = 10;

        /// <summary>Batch size.</summary>
        public const int BatchSize = 64;

        /// <summary>Peak learning rate.</summary>
        public const double LearningRate = 0.05;
    }

    /// <summary>Everything the trainer can be told. The trainer copies it; changing it later has no effect.</summary>
    public sealed class Options
    {
        /// <summary>Key-typed label column.</summary>
        public string LabelColumnName { get; set; } = "Label";

        /// <summary>
        /// The image column: a known-size vector of Single (C x H x W pixel values, channels first), an
        /// <c>MLImage</c> (<c>LoadImages</c>), a vector of Byte (<c>LoadRawImageBytes</c>) or text (image
        /// file paths). Images are resized to <see cref="ImageShape"/> and converted to its channels inside
        /// the pipeline, and the saved model takes the same kind of column.
        /// </summary>
        public string FeatureColumnName { get; set; } = "Features";

        /// <summary>Registered architecture name (see <c>ModelRegistry.Names</c>).</summary>
        public string Arch { get; set; } = Defaults.Arch;

        /// <summary>Shape of one image; null infers a square grey or RGB image from a pixel vector's size, and means <see cref="DefaultImageShape"/> for image, byte and path columns.</summary>
        public ImageShape? ImageShape { get; set; }

        /// <summary>Use the architecture's small-input stem; null chooses it for images under 64 pixels.</summary>
        public bool? SmallInputStem { get; set; }

        /// <summary>Channel width multiplier (1.0 = published widths; 0.25 makes a ResNet-18 16-32-64-128 wide).</summary>
        public double WidthMultiplier { get; set; } = 1.0;

        /// <summary>Passes over the training data.</summary>
        public int Epoch { get; set; } = Defaults.Epoch;

        /// <summary>Images per step.</summary>
        public int BatchSize { get; set; } = Defaults.BatchSize;

        /// <summary>Peak learning rate.</summary>
        public double LearningRate { get; set; } = Defaults.LearningRate;

        /// <summary>Learning rate as a function of the step; null is a cosine decay over the run.</summary>
        public LearningRateSchedule? LearningRateScheduler { get; set; }

        /// <summary>SGD momentum.</summary>
        public double Momentum { get; set; } = 0.9;

        /// <summary>L2 weight decay.</summary>
        public double WeightDecay { get; set; } = 5e-4;

        /// <summary>Nesterov momentum.</summary>
        public bool Nesterov { get; set; }

        /// <summary>No weight decay on biases and batch-norm gamma/beta.</summary>
        public bool NoBiasDecay { get; set; }

        /// <summary>Start the last batch norm of every residual block at gamma = 0.</summary>
        public bool ZeroGamma { get; set; }

        /// <summary>Label smoothing epsilon in [0, 1).</summary>
        public double LabelSmoothing { get; set; }

        /// <summary>Mixup settings, or null for none.</summary>
        public MixupOptions? Mixup { get; set; }

        /// <summary>Per-batch augmentation (crop, flip, colour, lighting), or null for none.</summary>
        public AugmentationOptions? Augmentation { get; set; }

        /// <summary>Knowledge distillation settings, or null for none. With <see cref="TeacherScoreColumnName"/> the teacher may be left null.</summary>
        public DistillationOptions? Distillation { get; set; }

        /// <summary>
        /// A column of teacher scores (probabilities or logits, one value per class) added earlier in the
        /// pipeline, for example a trained teacher's <c>Score</c>; used as distillation targets.
        /// </summary>
        public string? TeacherScoreColumnName { get; set; }

        /// <summary>Arithmetic of training: Auto (the default) takes bfloat16 only where the CPU runs it natively (float16 on CUDA), float32 elsewhere; or float32, bfloat16, float16 on request.</summary>
        public TrainingPrecision Precision { get; set; } = TrainingPrecision.Auto;

        /// <summary>Add GoogLeNet's and Inception v3's auxiliary-classifier losses in training.</summary>
        public bool AuxiliaryLoss { get; set; } = true;

        /// <summary>Folder for an end-of-epoch checkpoint; null for none.</summary>
        public string? CheckpointDirectory { get; set; }

        /// <summary>Continue from the checkpoint in <see cref="CheckpointDirectory"/> when there is one.</summary>
        public bool Resume { get; set; }

        /// <summary>Seed for initialization and shuffling.</summary>
        public int Seed { get; set; } = 1;

        /// <summary>Training device.</summary>
        public ComputeDevice Device { get; set; } = ComputeDevice.Auto;

        /// <summary>
        /// How the training and validation images are held: in memory (uint8 where they are 0..255 integers)
        /// when they fit <see cref="DataOptions.MemoryBudgetBytes"/>, streamed otherwise (image files decoded
        /// in parallel ahead of each step, other columns written once to a temporary file); the optional
        /// cache of decoded images; and what an unreadable image does (skipped and counted, or
        /// <see cref="DataOptions.Strict"/>). The choice never changes the trained weights.
        /// </summary>
        public DataOptions Data { get; set; } = new();

        /// <summary>Data evaluated after every epoch (same columns as the training data).</summary>
        public IDataView? ValidationSet { get; set; }

        /// <summary>Called after every epoch.</summary>
        public Action<EpochMetrics>? MetricsCallback { get; set; }

        /// <summary>
        /// Weights to start from: a torchvision checkpoint (.pth, or .safetensors) of the same architecture,
        /// or a file written by <see cref="ImageClassificationTransformer.SaveWeights"/> (continued
        /// training; its input normalization is reused unless <see cref="Mean"/>/<see cref="Std"/> are set).
        /// Tensors of another shape, such as the classifier when the class count differs, start fresh;
        /// RGB stem weights are summed for grey images. Null: random initialization.
        /// </summary>
        public string? InitialWeights { get; set; }

        /// <summary>Epochs at the start during which everything but the classifier head stays fixed (0: none); use with <see cref="InitialWeights"/>.</summary>
        public int FreezeBackboneEpochs { get; set; }

        /// <summary>Called after every optimizer step with the epoch's progress (images seen, loss, images/s, time left), e.g. for a progress bar.</summary>
        public Action<TrainingProgress>? ProgressCallback { get; set; }

        /// <summary>
        /// Stops training before the next step once cancelled (Ctrl+C in a console app, a request's
        /// abort in a web app); <c>Fit</c> then throws <see cref="OperationCanceledException"/> naming the
        /// epoch and step. (ML.NET 5 has no public cancellation on <c>MLContext</c>.)
        /// </summary>
        public CancellationToken CancellationToken { get; set; }

        /// <summary>Per-channel mean in input units; null computes it from the training data.</summary>
        public float[]? Mean { get; set; }

        /// <summary>Per-channel standard deviation in input units; null computes it from the training data.</summary>
        public float[]? Std { get; set; }

        /// <summary>GPU for ONNX Runtime scoring (its CUDA provider); null takes <c>MLContext.GpuDeviceId</c> (null there too: the CPU).</summary>
        public int? GpuDeviceId { get; set; }

        /// <summary>Fall back to the CPU when the GPU provider cannot be used for scoring; null takes <c>MLContext.FallbackToCpu</c>.</summary>
        public bool? FallbackToCpu { get; set; }

        /// <summary>
        /// Options whose training procedure is <paramref name="recipe"/> (for example
        /// <c>TrainingRecipes.BagOfTricks(epochs: 30, batchSize: 128)</c>); columns and architecture keep their defaults.
        /// </summary>
        public static Options FromRecipe(TrainerOptions recipe) => new()
        {
            Epoch = recipe.Epochs,
            BatchSize = recipe.BatchSize,
            LearningRate = recipe.LearningRate,
            LearningRateScheduler = recipe.Schedule,
            Momentum = recipe.Momentum,
            Nesterov = recipe.Nesterov,
            WeightDecay = recipe.WeightDecay,
            NoBiasDecay = recipe.NoBiasDecay,
            ZeroGamma = recipe.ZeroGamma,
            LabelSmoothing = recipe.LabelSmoothing,
            Mixup = recipe.Mixup,
            Augmentation = recipe.Augmentation,
            Distillation = recipe.Distillation,
            Precision = recipe.Precision,
            AuxiliaryLoss = recipe.AuxiliaryLoss,
            CheckpointDirectory = recipe.CheckpointDirectory,
            Resume = recipe.Resume,
            Seed = recipe.Seed,
            Device = recipe.Device,
            Data = recipe.Data,
        };

        internal Options Clone()
        {
            var copy = (Options)MemberwiseClone();
            copy.Mean = Mean?.ToArray();
            copy.Std = Std?.ToArray();
            return copy;
        }

        internal TrainerOptions ToTrainerOptions() => new()
        {
            Epochs = Epoch,
            BatchSize = BatchSize,
            LearningRate = LearningRate,
            Momentum = Momentum,
            Nesterov = Nesterov,
            WeightDecay = WeightDecay,
            NoBiasDecay = NoBiasDecay,
            ZeroGamma = ZeroGamma,
            LabelSmoothing = LabelSmoothing,
            Mixup = Mixup,
            Augmentation = Augmentation,
            Distillation = Distillation ?? (TeacherScoreColumnName is null ? null : new DistillationOptions()),
            Precision = Precision,
            AuxiliaryLoss = AuxiliaryLoss,
            CheckpointDirectory = CheckpointDirectory,
            Resume = Resume,
            Schedule = LearningRateScheduler ?? new CosineSchedule(),
            Seed = Seed,
            Device = Device,
            Data = Data,
        };
    }
}
