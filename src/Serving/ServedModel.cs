using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>
/// A loaded model: ML.NET's chain, saved as itself, whose <see cref="Transform"/> names the input file of a
/// scoring error at the top (<see cref="ScoringErrors"/>).
/// </summary>
internal sealed class ServedModel(ITransformer chain) : ITransformer, IDisposable
{
    public bool IsRowToRowMapper => chain.IsRowToRowMapper;

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => chain.GetOutputSchema(inputSchema);

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => chain.GetRowToRowMapper(inputSchema);

    public IDataView Transform(IDataView input) => ScoringErrors.NameTheInput(chain.Transform(input));

    void ICanSaveModel.Save(ModelSaveContext ctx) => chain.Save(ctx);

    public void Dispose() => (chain as IDisposable)?.Dispose();
}
