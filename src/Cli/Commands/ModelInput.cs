using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Serving;

namespace MLNetCnn.Cli.Commands;

/// <summary>
/// The column a saved model scores: image paths (text), encoded bytes, or a pixel vector of C x N x N; and
/// <paramref name="Schema"/>, that column and the other scalar columns of the model's saved schema, whose default values
/// the serving catalog gives a model whose chain reads them (a pipeline that starts with <c>MapValueToKey("Label")</c>).
/// </summary>
internal sealed record ModelInput(string Column, DataViewType Type, DataViewSchema Schema)
{
    /// <summary>The label column of labelled data, which is never the image column.</summary>
    public const string LabelColumnName = "Label";

    /// <summary>
    /// The image column <paramref name="model"/> scores among the columns of <paramref name="schema"/>: the first that the
    /// model scores alone (an <c>ImagePath</c> text column tried first), else the first that could hold images. Found by
    /// trying: a model trained on <c>LoadRawImageBytes</c> keeps the <c>ImagePath</c> column its bytes were read from in
    /// its saved schema, and predict and evaluate bound that path column and failed with "Could not find input column
    /// 'ImageBytes'".
    /// </summary>
    public static ModelInput Find(ITransformer model, DataViewSchema schema, string modelPath)
    {
        var columns = schema.Where(c => !c.IsHidden && c.Name != LabelColumnName && c.Type is TextDataViewType or VectorDataViewType { ItemType: NumberDataViewType })
            .OrderBy(c => c.Name == ImageFolder.ImagePathColumnName && c.Type is TextDataViewType ? 0 : 1)
            .Cast<DataViewSchema.Column?>().ToList();
        // A column that scores alone scores with the other scalar columns beside it too (default values stand for those a
        // chain reads: its Label), so one probe with them covers both.
        var column = columns.FirstOrDefault(c => DefaultInputs.Scores(model, [c!.Value, .. DefaultInputs.Others(schema, c.Value)])) ?? columns.FirstOrDefault();
        if (column is not { } found)
        {
            throw new InvalidDataException($"Model '{modelPath}' takes no image column this command can build (image paths, encoded bytes or a pixel vector); its input columns: {string.Join(", ", schema.Select(c => $"{c.Name} ({c.Type})"))}.");
        }

        var given = new DataViewSchema.Builder();
        foreach (var c in DefaultInputs.Others(schema, found).Prepend(found))
        {
            given.AddColumn(c.Name, c.Type, c.Annotations);
        }

        return new ModelInput(found.Name, found.Type, given.ToSchema());
    }

    /// <summary>Scores one file at a time on one engine: paths and bytes go to the model as they are; for a pixel model the file is decoded, resized (stretching, as the trainer does for image columns), made grey when it has one channel, and extracted channels first in the units the model was trained on.</summary>
    public FileScorer Scorer(MLContext mlContext, ITransformer model)
    {
        if (Type is TextDataViewType)
        {
            var engine = Engine<PathRow>(mlContext, Scoring(() => mlContext.CnnServing().WithDefaultInputs(model, Schema, Column)));
            return new FileScorer(Names(mlContext, engine), file => engine.Predict(new PathRow { Path = Path.GetFullPath(file) }).Score);
        }

        // Encoded bytes go to a bytes model as they are; a pixel model gets the serving catalog's steps in front (decode,
        // resize stretching as the trainer does for image columns, grey for one channel, extract in the model's units),
        // as the serving sample does. Either way each file's bytes are read here, so a decoding error can name the file.
        bool bytes = Type is VectorDataViewType { ItemType: var item } && item == NumberDataViewType.Byte;
        var (chain, column) = bytes
            ? (Scoring(() => mlContext.CnnServing().WithDefaultInputs(model, Schema, Column)), Column)
            : (Scoring(() => mlContext.CnnServing().WithImageBytesInput(model, Schema, BytesColumnName)), BytesColumnName);
        var fromBytes = Engine<BytesRow>(mlContext, chain, column);
        return new FileScorer(Names(mlContext, fromBytes), file => NamingTheFile(file, () => fromBytes.Predict(new BytesRow { Bytes = ImageDecoding.ReadFile(file) }).Score));
    }

    /// <summary>
    /// The model made to score what this command reads (<paramref name="build"/>: the serving catalog's steps); a model it
    /// cannot serve is a user error naming why.
    /// </summary>
    private ITransformer Scoring(Func<ITransformer> build)
    {
        try
        {
            return build();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException(e.ParamName == "inputSchema" ? $"The model's input column '{Column}' is {Type}: neither image paths, encoded bytes nor a square grey or RGB pixel vector." : WithoutParameter(e), e);
        }
    }

    /// <summary>The exception's message without the " (Parameter 'model')" .NET appends, which means nothing to a command's user.</summary>
    private static string WithoutParameter(ArgumentException e) => e.ParamName is { } name ? e.Message.Replace($" (Parameter '{name}')", string.Empty, StringComparison.Ordinal) : e.Message;

    /// <summary>The column of file bytes in front of a pixel model.</summary>
    private const string BytesColumnName = "mlnetcnn_cli_bytes";

    /// <summary>
    /// Scores with <paramref name="score"/>, naming <paramref name="file"/> in a decoding error: the model decodes the bytes
    /// inside its chain, where the error can only say "the encoded image", and predict printed "skipped: The encoded image
    /// (40 bytes) is not a decodable image" without saying which file.
    /// </summary>
    private static float[] NamingTheFile(string file, Func<float[]> score)
    {
        try
        {
            return score();
        }
        catch (Exception e) when (FileScorer.Unwrap(e) is InvalidDataException invalid)
        {
            throw new InvalidDataException($"'{file}': {invalid.Message}", invalid);
        }
    }

    /// <summary>An engine whose input class's one member is bound to the model's column (kept for the life of the command: an engine owns its model, and disposing it would dispose the model; docs/serving.md).</summary>
    private PredictionEngine<TRow, ScoreRow> Engine<TRow>(MLContext mlContext, ITransformer model, string? column = null)
        where TRow : class
    {
        var definition = SchemaDefinition.Create(typeof(TRow));
        definition[0].ColumnName = column ?? Column;
        return mlContext.Model.CreatePredictionEngine<TRow, ScoreRow>(model, inputSchemaDefinition: definition);
    }

    private static IReadOnlyList<string> Names<TRow>(MLContext mlContext, PredictionEngine<TRow, ScoreRow> engine)
        where TRow : class => mlContext.CnnServing().GetClassNames(engine.OutputSchema);

    private sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
    }

    private sealed class PathRow
    {
        public string Path { get; set; } = string.Empty;
    }

    private sealed class BytesRow
    {
        [VectorType]
        public byte[] Bytes { get; set; } = [];
    }
}

/// <summary>The class names of a model in score order, and the probabilities it gives one file.</summary>
internal sealed record FileScorer(IReadOnlyList<string> ClassNames, Func<string, float[]> Score)
{
    private readonly List<string> _skipped = [];

    /// <summary>Why each file <see cref="TryScore"/> skipped did not score (the decoder's message, naming the file), in order.</summary>
    public IReadOnlyList<string> Skipped => _skipped;

    /// <summary>Files <see cref="TryScore"/> skipped for being over the decode limit.</summary>
    public int OverTheLimit => _skipped.Count(DecodeLimitOption.IsOverTheLimit);

    /// <summary>
    /// Scores <paramref name="file"/>; a file that does not decode (or that the model refuses) is reported on
    /// <paramref name="error"/> as skipped, and gives null.
    /// </summary>
    public float[]? TryScore(string file, TextWriter error, string command)
    {
        try
        {
            return Score(file);
        }
        catch (Exception e) when (Unwrap(e) is InvalidDataException invalid)
        {
            error.WriteLine($"mlnetcnn {command}: skipped: {ClassFolderNames.Visible(invalid.Message)}");
            _skipped.Add(invalid.Message);
            return null;
        }
    }

    /// <summary>The <see cref="InvalidDataException"/> inside ML.NET's wrappers, or the innermost exception.</summary>
    internal static Exception Unwrap(Exception e)
    {
        while (e is not InvalidDataException && e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }
}
