using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators;

/// <summary>Entry point: <c>mlContext.Cnn()</c>.</summary>
public static class MLContextCnnExtensions
{
    /// <summary>The MLNetCnn catalog for this context (also registers this assembly so saved models load).</summary>
    public static CnnCatalog Cnn(this MLContext mlContext) => new(mlContext ?? throw new ArgumentNullException(nameof(mlContext)));
}

/// <summary>Trainers and model loading for convolutional image classifiers.</summary>
public sealed class CnnCatalog
{
    private readonly MLContext _mlContext;

    internal CnnCatalog(MLContext mlContext)
    {
        _mlContext = mlContext;
        _mlContext.ComponentCatalog.RegisterAssembly(typeof(ScoreArgMax).Assembly);
        Trainers = new CnnTrainers(mlContext);
    }

    /// <summary>One typed trainer per architecture family: <c>mlContext.Cnn().Trainers.ResNet(ResNetConfig.ResNet50)</c>.</summary>
    public CnnTrainers Trainers { get; }

    /// <summary>Creates an image-classification trainer for a registered architecture name, with the common settings.</summary>
    /// <param name="labelColumnName">Key-typed label column.</param>
    /// <param name="featureColumnName">Image column: pixels (vector of Single), MLImage, bytes or file paths; an image folder's <c>ImagePath</c> is found by itself.</param>
    /// <param name="arch">Registered architecture name, e.g. "resnet18" (<c>ModelRegistry.Names</c>); the typed entries are on <see cref="Trainers"/>.</param>
    /// <param name="epoch">Passes over the data.</param>
    /// <param name="batchSize">Images per step.</param>
    /// <param name="learningRate">Peak learning rate (cosine decay).</param>
    /// <param name="imageShape">Shape of one image; null infers a square grey or RGB image.</param>
    /// <inheritdoc cref="ImageClassificationTrainer" path="/remarks"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().ImageClassification(arch: "mobilenet_v2", featureColumnName: "ImagePath", imageShape: new ImageShape(3, 96, 96));
    /// using var model = trainer.Fit(ImageFolder.Load(mlContext, "photos").Data);
    /// </code></example>
    public ImageClassificationTrainer ImageClassification(
        string labelColumnName = "Label",
        string featureColumnName = "Features",
        string arch = ImageClassificationTrainer.Defaults.Arch,
        int epoch = ImageClassificationTrainer.Defaults.Epoch,
        int batchSize = ImageClassificationTrainer.Defaults.BatchSize,
        double learningRate = ImageClassificationTrainer.Defaults.LearningRate,
        ImageShape? imageShape = null) =>
        new(_mlContext, new ImageClassificationTrainer.Options
        {
            LabelColumnName = labelColumnName,
            FeatureColumnName = featureColumnName,
            Arch = arch,
            Epoch = epoch,
            BatchSize = batchSize,
            LearningRate = learningRate,
            ImageShape = imageShape,
        });

    /// <summary>Creates an image-classification trainer from full options.</summary>
    /// <param name="options">The options; the trainer copies them.</param>
    /// <inheritdoc cref="ImageClassificationTrainer" path="/remarks"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().ImageClassification(new ImageClassificationTrainer.Options
    /// {
    ///     Architecture = ResNetConfig.ResNet18 with { Width = 0.25 },
    ///     Training = TrainingRecipes.BagOfTricks(epochs: 8, batchSize: 128),
    ///     EarlyStoppingCriteria = new EarlyStopping { Patience = 3 },
    ///     ValidationSetFraction = 0.1,
    /// });
    /// </code></example>
    public ImageClassificationTrainer ImageClassification(ImageClassificationTrainer.Options options) => new(_mlContext, options);

    /// <summary>
    /// A featurizer from an architecture and its initial weights, without training: adds the backbone's embedding (a
    /// vector of Single) for ML.NET's classic trainers. From a trained model, use <see cref="ImageClassificationTransformer.CreateFeaturizer"/>.
    /// </summary>
    /// <param name="options">Architecture, weights, columns.</param>
    /// <example><code language="csharp">
    /// var featurizer = mlContext.Cnn().ImageFeaturizer(new ImageFeaturizerEstimator.Options
    /// {
    ///     Architecture = ResNetConfig.ResNet50,
    ///     InitialWeights = "/models/resnet50-0676ba61.pth",
    ///     FeatureColumnName = "ImagePath",
    ///     ImageShape = new ImageShape(3, 224, 224),
    ///     Mean = [123.675f, 116.28f, 103.53f],
    ///     Std = [58.395f, 57.12f, 57.375f],
    /// });
    /// // The cache runs the network once per image, not once per SDCA pass; an iteration count keeps SDCA from choosing thousands.
    /// var pipeline = featurizer
    ///     .AppendCacheCheckpoint(mlContext)
    ///     .Append(mlContext.MulticlassClassification.Trainers.SdcaMaximumEntropy(featureColumnName: "Embedding", maximumNumberOfIterations: 30));
    /// </code></example>
    public ImageFeaturizerEstimator ImageFeaturizer(ImageFeaturizerEstimator.Options options) => new(_mlContext, options);

    /// <inheritdoc cref="CnnServingCatalog.LoadModel(string, out DataViewSchema)"/>
    public ITransformer LoadModel(string path, out DataViewSchema? inputSchema) => _mlContext.CnnServing().LoadModel(path, out inputSchema);

    /// <inheritdoc cref="CnnServingCatalog.LoadModel(Stream, out DataViewSchema)"/>
    public ITransformer LoadModel(Stream stream, out DataViewSchema? inputSchema) => _mlContext.CnnServing().LoadModel(stream, out inputSchema);

    /// <inheritdoc cref="CnnServingCatalog.GetClassNames(ITransformer, DataViewSchema)"/>
    public IReadOnlyList<string> GetClassNames(ITransformer model, DataViewSchema? inputSchema) => _mlContext.CnnServing().GetClassNames(model, inputSchema);

    /// <inheritdoc cref="CnnServingCatalog.GetClassNames(DataViewSchema)"/>
    public IReadOnlyList<string> GetClassNames(DataViewSchema outputSchema) => _mlContext.CnnServing().GetClassNames(outputSchema);
}
