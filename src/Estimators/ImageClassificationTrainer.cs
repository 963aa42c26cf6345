using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Onnx;
using MLNetCnn.Architectures.Runtime;
using MLNetCnn.Architectures.Weights;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Distillation;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators;

/// <summary>
/// Trains a convolutional image classifier of any family (a typed <see cref="ArchitectureConfig"/>, or a
/// registered name) on TorchSharp and returns an <see cref="ImageClassificationTransformer"/> that scores
/// through ONNX Runtime.
/// </summary>
/// <remarks>
/// <format type="text/markdown"><![CDATA[
/// | Characteristics | |
/// | -- | -- |
/// | Machine learning task | Multiclass classification |
/// | Input columns | Label: key type (at least 2 classes). Image column: a known-size vector of Single (C x H x W pixels, channels first, any units), an MLImage (`LoadImages`), a vector of Byte (`LoadRawImageBytes`) or text (image file paths). Optional: a soft-target column (teacher scores, one per class). |
/// | Output columns | Score: vector of Single (probabilities). PredictedLabel: key type with the label's key values. |
/// | Preprocessing | Decoding, resizing and pixel extraction are ML.NET's own transforms in the saved chain; normalization is learned and baked into the ONNX graph. |
/// | Training | TorchSharp, CUDA when present else the CPU; the procedure is one `TrainerOptions` (recipes, tricks, early stopping). |
/// | Scoring | ONNX Runtime (Microsoft.ML.OnnxTransformer); the saved model loads with MLNetCnn.Serving alone and never loads libtorch. |
/// ]]></format>
/// </remarks>
public sealed partial class ImageClassificationTrainer : IEstimator<ImageClassificationTransformer>
{
    private readonly MLContext _mlContext;
    private readonly Options _options;
    private readonly IHost _host;

    internal ImageClassificationTrainer(MLContext mlContext, Options options)
    {
        _mlContext = mlContext ?? throw new ArgumentNullException(nameof(mlContext));
        _options = (options ?? throw new ArgumentNullException(nameof(options))).Clone();
        _host = ((IHostEnvironment)mlContext).Register(nameof(ImageClassificationTrainer));
        (_options.Training ?? throw new ArgumentNullException(nameof(Options.Training), "Options.Training is required (the default is new TrainerOptions()).")).Validate();
        if (string.IsNullOrEmpty(_options.LabelColumnName))
        {
            throw new ArgumentNullException(nameof(Options.LabelColumnName), "Options.LabelColumnName names the label column (the default is \"Label\").");
        }

        if (string.IsNullOrEmpty(_options.FeatureColumnName))
        {
            throw new ArgumentNullException(nameof(Options.FeatureColumnName), "Options.FeatureColumnName names the image column (the default is \"Features\").");
        }
        if (_options.WidthMultiplier is { } width)
        {
            ArchitectureConfig.CheckWidth(width, nameof(Options.WidthMultiplier));
        }
    }

    /// <summary>
    /// Image shape used for image, path and bytes columns when <see cref="Options.ImageShape"/> is null, for an architecture
    /// whose native input is 224 (most); others get RGB at their <see cref="ArchitectureConfig.NativeInputSize"/> (299 for
    /// Inception v3 and Xception, the config's resolution for MobileNet v1 and EfficientNet).
    /// </summary>
    public static ImageShape DefaultImageShape => ImageColumn.DefaultImageShape;

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var label = inputSchema.FirstOrDefault(c => c.Name == _options.LabelColumnName);
        if (label.Name is null)
        {
            throw DataViewImageReader.LabelNotFound(nameof(inputSchema), _options.LabelColumnName, inputSchema.Select(c => c.Name));
        }

        if (!label.IsKey)
        {
            throw new ArgumentException($"Label column '{_options.LabelColumnName}' must be a key type (use MapValueToKey); found {label.ItemType}.");
        }

        string featureColumn = FeatureColumns.Resolve(_options.FeatureColumnName, inputSchema.Select(c => (c.Name, c.ItemType, c.Kind == SchemaShape.Column.VectorKind.Scalar)));
        RefuseNameClash(featureColumn, featureColumn);
        var features = inputSchema.First(c => c.Name == featureColumn);
        bool pixels = features.Kind == SchemaShape.Column.VectorKind.Vector && features.ItemType == NumberDataViewType.Single;
        bool image = features.Kind == SchemaShape.Column.VectorKind.Scalar && ImageInput.Classify(features.ItemType) is ImageColumnKind.Image or ImageColumnKind.Path;
        if (features.Kind == SchemaShape.Column.VectorKind.Vector && features.ItemType == NumberDataViewType.Byte)
        {
            throw ImageColumn.PixelBytes(featureColumn, "Vector of Byte");
        }

        bool bytes = features.Kind == SchemaShape.Column.VectorKind.VariableVector && features.ItemType == NumberDataViewType.Byte;
        if (!pixels && !image && !bytes)
        {
            throw new ArgumentException($"Feature column '{featureColumn}' must be a known-size vector of Single (pixels), an image (LoadImages), a vector of Byte (LoadRawImageBytes) or text (image paths); found {features.Kind} of {features.ItemType}.");
        }

        if (!pixels)
        {
            ImageColumn.RefuseReservedName(inputSchema.Select(c => c.Name), featureColumn);
        }

        // Score is a vector of known size (the class count, which the data decides), its slots named by class, as ML.NET's trainers promise it.
        var added = new DataViewSchema.Builder();
        added.AddColumn(ServingPipeline.ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single, 2), ScoreAnnotations.Promised());
        // PredictedLabel's key values are the label's, in their type (text when the label has none of a kept type).
        var keyValues = ClassKeyValues.PromisedKeyValues(label.Annotations.FirstOrDefault(a => a.Name == "KeyValues").ItemType);
        added.AddColumn(ServingPipeline.PredictedLabelColumnName, new KeyDataViewType(typeof(uint), 2), keyValues);
        return SchemaShapes.WithColumns(inputSchema, added.ToSchema());
    }

    /// <summary>
    /// Refuses a feature (or pixel) column named as a column the model adds. Found late before: the whole training ran,
    /// then ONNX Runtime refused "Duplicate definition of name (Score)"; and GetOutputSchema silently replaced it.
    /// </summary>
    private static void RefuseNameClash(string featureColumn, string pixelColumn)
    {
        string[] outputs = [ServingPipeline.ScoreColumnName, ServingPipeline.PredictedLabelColumnName, ServingPipeline.PredictedValueColumnName];
        if (outputs.FirstOrDefault(n => n == pixelColumn || n == featureColumn) is { } clash)
        {
            throw new ArgumentException($"Feature column '{featureColumn}' has the name of a column the model adds ('{clash}'); rename it (mlContext.Transforms.CopyColumns) before training.");
        }
    }

    /// <summary>Trains on <paramref name="input"/> and returns the trained transformer.</summary>
    /// <exception cref="ArgumentException">The schema does not fit the options (a missing column, a label that is not a key, a feature column of the wrong type or size).</exception>
    /// <exception cref="TrainingDataException">The rows cannot be trained on: no rows, a single class, an out-of-range label, a non-finite pixel (the message names the column and row).</exception>
    /// <exception cref="InvalidDataException">An image (path or bytes column) cannot be read or decoded; the message names it.</exception>
    /// <exception cref="IOException"><c>MLContext.TempFilePath</c> cannot be written (checked before training; the trained graph goes there).</exception>
    public ImageClassificationTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var fitClock = System.Diagnostics.Stopwatch.StartNew(); // Training.TimeLimit counts the data reading too
        var o = _options;
        ServingPipeline.CheckScoringDevice(o.GpuDeviceId ?? _mlContext.GpuDeviceId, o.FallbackToCpu ?? _mlContext.FallbackToCpu);
        TempGraphFiles.CheckWritable(_mlContext.TempFilePath);
        using var channel = _host.Start("Training");
        var plan = ImageColumn.Prepare(_mlContext, input, o.FeatureColumnName, o.ImageShape, o.ResolvedArchitecture, message => channel.Info(MessageSensitivity.None, message));
        var (shape, featureColumn, converted) = (plan.Shape, plan.PixelColumn, plan.Apply(input));
        RefuseNameClash(o.FeatureColumnName, plan.PixelColumn);

        var (numClasses, classNames) = DataViewImageReader.CheckSchema(converted.Schema, o.LabelColumnName, featureColumn, shape);
        var architecture = new ArchitectureOptions
        {
            NumClasses = numClasses,
            InputChannels = shape.Channels,
            InputSize = shape.Height,
            SmallInputStem = o.SmallInputStem ?? shape.Height < 64,
        };
        ModelMemory.Check(o.ResolvedArchitecture, architecture);
        var training = o.Training;
        using var trainImages = DataViewImageSource.Read(_mlContext, input, plan, o.LabelColumnName, numClasses, "training", training.Data, o.CancellationToken, message => channel.Info(MessageSensitivity.None, message), ReadProgress(ImageSetKind.Training));
        var train = trainImages;
        if (o.SoftTargetColumnName is { } softTargets)
        {
            train = trainImages.WithTeacherLogits(SoftTargets.ReadLogits(input, softTargets, numClasses, trainImages.Count));
            training = training.Distillation is null ? training with { Distillation = new DistillationOptions() } : training;
        }

        using var validation = o.ValidationSet is { } validationData ? ReadValidation(validationData, plan, classNames, training.Data, message => channel.Info(MessageSensitivity.None, message)) : null;
        channel.Info(MessageSensitivity.None, $"training data: {DataViewImageSource.Describe(train)}{(validation is null ? string.Empty : $"; validation data: {DataViewImageSource.Describe(validation)}")}");
        PixelStatistics? statistics = null;
        PixelStatistics Statistics() => statistics ??= train.Statistics();
        var (initial, mean, std) = StartingPoint(o.InitialWeights, o.Mean, o.Std, shape, () => (Statistics().Mean, Statistics().Std));
        var pixelRange = PixelRange.Of(plan, Statistics);
        var config = o.ResolvedArchitecture;
        channel.Info(MessageSensitivity.None, $"{config.Name} (width {config.Width}): {train.Count} training images of {shape}, {numClasses} classes{(validation is null ? string.Empty : $", {validation.Count} validation images")}.");

        using var generator = GlobalGenerator.Take(o.CancellationToken, message => channel.Info(MessageSensitivity.None, message));
        TorchSharp.torch.random.manual_seed(training.Seed);
        using var model = new NormalizedClassifier(config.Create(architecture), new InputNormalization(mean, std));
        if (initial is not null)
        {
            LoadInitialWeights(model, initial, o.InitialWeights!, config, channel);
        }
        else if (training.FreezeEpochs > 0 && training.FrozenParameters is null)
        {
            channel.Info(MessageSensitivity.None, $"warning: FreezeEpochs {training.FreezeEpochs} without InitialWeights holds a randomly initialized backbone fixed, its batch norms on their initial statistics; only the head learns. Freezing is for a backbone loaded from a weights file.");
        }

        if (training.TimeLimit is { } limit)
        {
            // The trainer's clock starts now: what reading the data took comes off its share (at least one epoch runs).
            var left = limit - fitClock.Elapsed;
            training = training with { TimeLimit = left > TimeSpan.Zero ? left : TimeSpan.FromTicks(1) };
            channel.Info(MessageSensitivity.None, FormattableString.Invariant($"time limit {limit.TotalSeconds:F0} s: reading the data took {fitClock.Elapsed.TotalSeconds:F1} s of it, {Math.Max(0, left.TotalSeconds):F0} s are left for training"));
        }

        var trainer = new ClassifierTrainer(training, o.MetricsCallback, message => channel.Info(MessageSensitivity.None, message), o.ProgressCallback);
        var history = trainer.Fit(model, train, validation, o.CancellationToken);
        return ImageClassificationTransformer.Create(_mlContext, model, config, architecture, classNames, o.LabelColumnName, featureColumn, plan.Conversion, converted, history, o.GpuDeviceId ?? _mlContext.GpuDeviceId, o.FallbackToCpu ?? _mlContext.FallbackToCpu, o.TestTimeFlip, pixelRange);
    }

    /// <summary>
    /// The starting weights (read first: weights this library saved carry their input normalization) and the
    /// normalization: the options' own, else the file's, else <paramref name="statistics"/> of the data.
    /// </summary>
    internal static (Dictionary<string, TorchSharp.torch.Tensor>? Weights, float[] Mean, float[] Std) StartingPoint(string? weightsPath, float[]? mean, float[]? std, ImageShape shape, Func<(float[] Mean, float[] Std)> statistics)
    {
        if ((mean is null) != (std is null))
        {
            throw new ArgumentException($"Options.Mean and Options.Std set the input normalization together; {(mean is null ? "Std" : "Mean")} is set and {(mean is null ? "Mean" : "Std")} is not. Set both (one value per channel), or neither to compute them from the training data.");
        }

        Dictionary<string, TorchSharp.torch.Tensor>? initial = null;
        Dictionary<string, string> metadata = new();
        if (weightsPath is not null)
        {
            (initial, metadata) = PretrainedWeights.Read(weightsPath);
        }

        if (mean is not null && std is not null)
        {
            return (initial, mean, std);
        }

        if (metadata.TryGetValue(WeightsMetadata.Mean, out var savedMean) && metadata.TryGetValue(WeightsMetadata.Std, out var savedStd)
            && JsonSerializer.Deserialize<float[]>(savedMean) is { } m && m.Length == shape.Channels)
        {
            return (initial, m, JsonSerializer.Deserialize<float[]>(savedStd)!);
        }

        var computed = statistics();
        return (initial, computed.Mean, computed.Std);
    }

    internal static void LoadInitialWeights(NormalizedClassifier model, Dictionary<string, TorchSharp.torch.Tensor> initial, string path, ArchitectureConfig config, IChannel channel)
    {
        try
        {
            var report = PretrainedWeights.Load(model, initial);

            // The backbone's weights: a batch norm's step counter (a scalar) fits every model and the classifier's bias every
            // model of the class count, so a file of another width "loaded" those and training went on from scratch.
            var head = model.HeadParameterNames;
            var backbone = model.named_parameters().Select(p => p.name).Where(n => !head.Contains(n)).ToHashSet(StringComparer.Ordinal);
            if (!report.Loaded.Concat(report.Adapted).Any(backbone.Contains))
            {
                throw new InvalidDataException($"No weight of '{path}' fits the backbone of {config.Name} at width {config.Width} ({report}); is it a checkpoint of another architecture or width?");
            }

            channel.Info(MessageSensitivity.None, $"initial weights {path}: {report}");
        }
        finally
        {
            foreach (var t in initial.Values)
            {
                t.Dispose();
            }
        }
    }

    private IImageSource ReadValidation(IDataView validationData, ImageColumnPlan plan, IReadOnlyList<string> classNames, DataOptions data, Action<string> log)
    {
        int numClasses = classNames.Count;
        int validationClasses;
        IReadOnlyList<string> validationNames;
        try
        {
            var converted = plan.Apply(validationData);
            (validationClasses, validationNames) = DataViewImageReader.CheckSchema(converted.Schema, _options.LabelColumnName, plan.PixelColumn, plan.Shape);
        }
        catch (ArgumentException e)
        {
            // The checks word their errors for the training data; said of the validation set, the user looks in the right place.
            throw new ArgumentException($"ValidationSet: {e.Message} The ValidationSet is read as given: the steps before the trainer in a pipeline do not transform it, so fit them first and pass their output (preprocessing.Fit(trainData).Transform(validationData)), keyed by the same MapValueToKey as the training data.", nameof(Options.ValidationSet), e);
        }
        if (validationClasses != numClasses)
        {
            throw new ArgumentException($"Validation label column '{_options.LabelColumnName}' has {validationClasses} classes; the training data has {numClasses}.");
        }

        // Key k must be the same class on both sides, or validation accuracy and early stopping compare permuted classes
        // (MapValueToKey fitted on each set separately orders the keys by first appearance).
        if (!validationNames.SequenceEqual(classNames, StringComparer.Ordinal))
        {
            bool sameSet = validationNames.Order(StringComparer.Ordinal).SequenceEqual(classNames.Order(StringComparer.Ordinal), StringComparer.Ordinal);
            throw new ArgumentException($"Validation label column '{_options.LabelColumnName}' keys the classes {(sameSet ? "in another order" : "with other names")}: [{string.Join(", ", validationNames)}]; the training data's are [{string.Join(", ", classNames)}]. Fit MapValueToKey once (on the training data, or with keyData) and apply that transformer to both sets.");
        }

        return DataViewImageSource.Read(_mlContext, validationData, plan, _options.LabelColumnName, numClasses, "validation", data, _options.CancellationToken, log, ReadProgress(ImageSetKind.Validation));
    }

    /// <summary>The options' <see cref="Options.ReadProgressCallback"/> fed with one set's read (null without one).</summary>
    private Action<int, int, TimeSpan>? ReadProgress(ImageSetKind set)
    {
        if (_options.ReadProgressCallback is not { } callback)
        {
            return null;
        }

        return (done, total, elapsed) => callback(DataReadProgress.At(set, done, total, elapsed));
    }
}
