using Microsoft.ML;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators.Serving;

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
    }

    /// <summary>Creates an image-classification trainer with the common settings.</summary>
    /// <param name="labelColumnName">Key-typed label column.</param>
    /// <param name="featureColumnName">Float-vector image column (C x H x W, channels first).</param>
    /// <param name="arch">Registered architecture name, e.g. "resnet18".</param>
    /// <param name="epoch">Passes over the data.</param>
    /// <param name="batchSize">Images per step.</param>
    /// <param name="learningRate">Peak learning rate (cosine decay).</param>
    /// <param name="imageShape">Shape of one image; null infers a square grey or RGB image.</param>
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
    public ImageClassificationTrainer ImageClassification(ImageClassificationTrainer.Options options) => new(_mlContext, options);

    /// <summary>Loads a model saved with <c>mlContext.Model.Save</c>, registering what its scoring chain needs.</summary>
    public ITransformer LoadModel(string path, out DataViewSchema inputSchema) => _mlContext.Model.Load(path, out inputSchema);

    /// <summary>Loads a model from a stream.</summary>
    public ITransformer LoadModel(Stream stream, out DataViewSchema inputSchema) => _mlContext.Model.Load(stream, out inputSchema);
}
