using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>
/// What a trained or loaded model hands out around ML.NET's serving chain, in one place for the classifier, the
/// featurizer and a loaded model: each row's vector lengths checked (<see cref="VectorLengthCheck"/>), <c>Score</c>'s
/// slots named (<see cref="ScoreAnnotations"/>), a bad file's error at the top (<see cref="ScoringErrors"/>), and a
/// PredictionEngine used by two threads at once stopped with an error instead of a crash.
/// </summary>
internal static class ServedScoring
{
    /// <summary>The chain's output schema for <paramref name="inputSchema"/>, <c>Score</c>'s slots named.</summary>
    public static DataViewSchema OutputSchema(ITransformer chain, DataViewSchema trainedOn, DataViewSchema inputSchema) =>
        ScoreAnnotations.Annotate(InputSchemaCheck.Bind(trainedOn, inputSchema, () => chain.GetOutputSchema(inputSchema)));

    /// <summary>The chain's <c>Transform</c> of <paramref name="input"/>, checked against <paramref name="trainedOn"/>.</summary>
    public static IDataView Transform(ITransformer chain, DataViewSchema trainedOn, IDataView input)
    {
        var checkedInput = VectorLengthCheck.For(trainedOn, input.Schema) is { } check ? check.Wrap(input) : input;
        return ScoreAnnotations.Annotate(ScoringErrors.NameTheInput(InputSchemaCheck.Bind(trainedOn, input.Schema, () => chain.Transform(checkedInput))));
    }

    /// <summary>The chain's row mapper for <paramref name="inputSchema"/> (what a PredictionEngine scores through).</summary>
    public static IRowToRowMapper Mapper(ITransformer chain, DataViewSchema trainedOn, DataViewSchema inputSchema)
    {
        var mapper = InputSchemaCheck.Bind(trainedOn, inputSchema, () => chain.GetRowToRowMapper(inputSchema));
        return new ServedMapper(mapper, VectorLengthCheck.For(trainedOn, inputSchema), ScoreAnnotations.Annotate(mapper.OutputSchema));
    }

    private sealed class ServedMapper(IRowToRowMapper inner, VectorLengthCheck? check, DataViewSchema outputSchema) : IRowToRowMapper
    {
        public DataViewSchema InputSchema => inner.InputSchema;

        public DataViewSchema OutputSchema => outputSchema;

        public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns) =>
            inner.GetDependencies(ScoreAnnotations.Inner(inner.OutputSchema, dependingColumns));

        public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) =>
            new OneThreadRow(inner.GetRow(check?.Wrap(input) ?? input, ScoreAnnotations.Inner(inner.OutputSchema, activeColumns)), outputSchema);
    }

    /// <summary>
    /// The mapper's output row under the annotated schema. A PredictionEngine keeps one such row and reads it for every
    /// prediction; two threads predicting at once on one engine (ML.NET's engines are not thread-safe) ran ONNX Runtime
    /// over the same buffers and ended the process ("malloc(): unaligned tcache chunk detected") or returned an empty
    /// Score. Reads that overlap now throw, in every thread involved, instead. Disposing the row disposes the mapper's.
    /// </summary>
    private sealed class OneThreadRow(DataViewRow inner, DataViewSchema schema) : PassThroughRow(inner, ownsInner: true)
    {
        private int _reading;
        private int _collisions;

        public override DataViewSchema Schema => schema;

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            var getter = base.GetGetter<TValue>(Source.Schema[column.Index]);
            return (ref TValue value) =>
            {
                // A read that finds another in progress counts a collision and throws; a read throws too when a collision
                // was counted while it ran. A count, not a flag: nothing is left over to fail a later, lawful read.
                int collisions = Volatile.Read(ref _collisions);
                if (Interlocked.Increment(ref _reading) > 1)
                {
                    Interlocked.Increment(ref _collisions);
                    Interlocked.Decrement(ref _reading);
                    throw SharedEngine();
                }

                try
                {
                    getter(ref value);
                }
                finally
                {
                    Interlocked.Decrement(ref _reading);
                }

                if (Volatile.Read(ref _collisions) != collisions)
                {
                    throw SharedEngine();
                }
            };
        }

        public override bool IsColumnActive(DataViewSchema.Column column) => base.IsColumnActive(Source.Schema[column.Index]);

        private static InvalidOperationException SharedEngine() => new(
            "Two threads scored through one PredictionEngine at once. ML.NET's PredictionEngine is not thread-safe: overlapping " +
            "calls corrupt ONNX Runtime's buffers or mix up the rows' results. Use one engine per thread, or " +
            "mlContext.CnnServing().CreatePool(model), which is safe from any thread.");
    }
}
