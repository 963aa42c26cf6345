using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>
/// A loaded model: ML.NET's chain, saved as itself, whose <see cref="Transform"/> names the input file of a
/// scoring error at the top (<see cref="ScoringErrors"/>) checks each row's vector lengths (<see cref="VectorLengthCheck"/>) and names
/// <c>Score</c>'s slots (<see cref="ScoreAnnotations"/>).
/// </summary>
/// <param name="chain">The loaded chain.</param>
/// <param name="trainedOn">The input schema saved with it (or the graph's inputs).</param>
/// <param name="classNames">The model's class names, when the saved schema names them: a label keyed otherwise is refused.</param>
/// <param name="pixelRanges">What its graphs record of their pixel inputs' units, read at load (<see cref="GraphShapes.PixelRanges"/>).</param>
internal sealed class ServedModel(ITransformer chain, DataViewSchema trainedOn, IReadOnlyList<string>? classNames, IReadOnlyDictionary<string, string?> pixelRanges) : ITransformer, IDisposable, IGatedModel, IRecordsPixelRange
{
    public ScoringGate Gate { get; } = new();

    public bool Records(string column, out string? recorded) => pixelRanges.TryGetValue(column, out recorded);

    public bool IsRowToRowMapper => chain.IsRowToRowMapper;

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => ServedScoring.OutputSchema(Open(inputSchema), trainedOn, inputSchema);

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => ServedScoring.Mapper(Open(inputSchema), trainedOn, inputSchema);

    public IDataView Transform(IDataView input) => ServedScoring.Transform(Open(input.Schema), trainedOn, input);

    void ICanSaveModel.Save(ModelSaveContext ctx) => Open().Save(ctx);

    /// <summary>Waits for the pools' predictions in flight, then releases ONNX Runtime's session.</summary>
    public void Dispose()
    {
        if (!Gate.IsClosed)
        {
            Gate.Close();
            (chain as IDisposable)?.Dispose();
        }
    }

    private ITransformer Open(DataViewSchema given)
    {
        InputSchemaCheck.Check(trainedOn, given, classNames);
        return Open();
    }

    private ITransformer Open() => Gate.IsClosed ? throw ScoringGate.Disposed(nameof(ServedModel), "Load it again to score.") : chain;
}
