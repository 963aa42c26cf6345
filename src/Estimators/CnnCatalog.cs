using Microsoft.ML;
using Microsoft.ML.Data;
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
    /// <remarks>
    /// The zip is checked first: every ONNX graph in it must load in ONNX Runtime (a damaged one is reported naming
    /// the zip, before ML.NET copies it to a temporary file it would leave behind), and the graph must score as many
    /// classes as the model has class names.
    /// </remarks>
    /// <exception cref="InvalidDataException">The file is not a model zip, a graph is damaged, or the class counts differ; the message names the file.</exception>
    public ITransformer LoadModel(string path, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = File.OpenRead(path);
        return LoadModel(file, path, out inputSchema);
    }

    /// <summary>Loads a model from a stream, with the checks of <see cref="LoadModel(string, out DataViewSchema)"/>.</summary>
    /// <exception cref="InvalidDataException">The stream is not a model zip, a graph is damaged, or the class counts differ.</exception>
    public ITransformer LoadModel(Stream stream, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (stream.CanSeek)
        {
            return LoadModel(stream, "the model stream", out inputSchema);
        }

        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        copy.Position = 0;
        return LoadModel(copy, "the model stream", out inputSchema);
    }

    private ITransformer LoadModel(Stream zip, string source, out DataViewSchema inputSchema)
    {
        long start = zip.Position;
        int? width = ModelIntegrity.CheckGraphs(zip, source);
        zip.Position = start;
        var model = _mlContext.Model.Load(zip, out inputSchema);
        ModelIntegrity.CheckClassCount(model, width, source);
        return model;
    }

    /// <summary>
    /// The class names of a trained or loaded classifier in score order: <c>Score[i]</c> is the probability of
    /// the i-th name, and <c>PredictedLabel</c> key <c>k</c> is name <c>k - 1</c>.
    /// </summary>
    /// <param name="model">A model from <see cref="ImageClassificationTrainer"/> or <see cref="LoadModel(string, out DataViewSchema)"/>.</param>
    /// <param name="inputSchema">The schema the model scores (the one <see cref="LoadModel(string, out DataViewSchema)"/> returns).</param>
    public IReadOnlyList<string> GetClassNames(ITransformer model, DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputSchema);
        return GetClassNames(model.GetOutputSchema(inputSchema));
    }

    /// <summary>
    /// The class names in score order, read from the key values of the <c>PredictedLabel</c> column of a scored
    /// schema (a transformed <see cref="IDataView"/>'s, or a <c>PredictionEngine</c>'s <c>OutputSchema</c>).
    /// </summary>
    /// <exception cref="InvalidDataException">The <c>Score</c> column has another width than there are names.</exception>
    public IReadOnlyList<string> GetClassNames(DataViewSchema outputSchema)
    {
        ArgumentNullException.ThrowIfNull(outputSchema);
        const string column = ServingPipeline.PredictedLabelColumnName;
        if (outputSchema.GetColumnOrNull(column) is not { } predicted)
        {
            throw new ArgumentException($"The schema has no '{column}' column (columns: {string.Join(", ", outputSchema.Where(c => !c.IsHidden).Select(c => c.Name))}); pass the output schema of an MLNetCnn image classifier.", nameof(outputSchema));
        }

        if (!predicted.HasKeyValues())
        {
            throw new ArgumentException($"Column '{column}' ({predicted.Type}) has no key values to name the classes; expected the key column of an MLNetCnn image classifier.", nameof(outputSchema));
        }

        VBuffer<ReadOnlyMemory<char>> names = default;
        predicted.GetKeyValues(ref names);
        var list = names.DenseValues().Select(n => n.ToString()).ToList();
        ModelIntegrity.CheckClassCount(outputSchema, list.Count);
        return list;
    }
}
