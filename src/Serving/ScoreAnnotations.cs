using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>
/// Gives <c>Score</c> the annotations ML.NET's own multiclass trainers give it: the class names as its slot names, so
/// the usual <c>engine.OutputSchema["Score"].GetSlotNames(ref names)</c> pairs each probability with its class, and
/// its kind (<c>ScoreColumnKind</c> "MulticlassClassification", <c>ScoreValueKind</c> "Score"). The names are
/// <c>PredictedLabel</c>'s key values as text (<see cref="ClassKeyValues.AsText"/>, what
/// <c>CnnServingCatalog.GetClassNames</c> returns), so a loaded model gets them as a trained one does. ONNX Runtime's
/// step that computes <c>Score</c> has no way to carry them; they are added to the schema of what a model hands out.
/// </summary>
internal static class ScoreAnnotations
{
    /// <summary>ML.NET's <c>AnnotationUtils.Kinds.SlotNames</c>.</summary>
    public const string SlotNames = "SlotNames";

    /// <summary>ML.NET's <c>AnnotationUtils.Kinds.ScoreColumnKind</c>, and its value for a multiclass classifier.</summary>
    private static readonly (string Kind, string Value) ColumnKind = ("ScoreColumnKind", "MulticlassClassification");

    /// <summary>ML.NET's <c>AnnotationUtils.Kinds.ScoreValueKind</c>, and its value for scores.</summary>
    private static readonly (string Kind, string Value) ValueKind = ("ScoreValueKind", "Score");

    /// <summary>
    /// <paramref name="schema"/> with <c>Score</c>'s annotations, or itself when it has no class scores to name or has them
    /// all. The graphs of this version record the slot names themselves (ML.NET's <c>OnnxTransformer</c> reads them), so
    /// only the kinds are added to theirs; those of earlier versions get both.
    /// </summary>
    public static DataViewSchema Annotate(DataViewSchema schema)
    {
        if (schema.GetColumnOrNull(ServingPipeline.ScoreColumnName) is not { Type: VectorDataViewType { Size: > 0 } scores } score
            || score.Annotations.Schema.GetColumnOrNull(ColumnKind.Kind) is not null
            || schema.GetColumnOrNull(ServingPipeline.PredictedLabelColumnName) is not { Type: KeyDataViewType } predicted
            || ClassKeyValues.AsText(predicted, scores.Size) is not { } names)
        {
            return schema;
        }

        bool named = score.Annotations.Schema.GetColumnOrNull(SlotNames) is not null;
        var slotNames = names.Select(n => n.AsMemory()).ToArray();
        var builder = new DataViewSchema.Builder();
        foreach (var column in schema)
        {
            var annotations = new DataViewSchema.Annotations.Builder();
            annotations.Add(column.Annotations, _ => true);
            if (column.Index == score.Index)
            {
                if (!named)
                {
                    annotations.Add(SlotNames, new VectorDataViewType(TextDataViewType.Instance, slotNames.Length), (ref VBuffer<ReadOnlyMemory<char>> value) => value = new VBuffer<ReadOnlyMemory<char>>(slotNames.Length, slotNames.ToArray()));
                }

                AddKinds(annotations);
            }

            builder.AddColumn(column.Name, column.Type, annotations.ToAnnotations());
        }

        return builder.ToSchema();
    }

    /// <summary>
    /// <c>Score</c>'s slot names, null where it has none: the class names in score order, as trained and loaded models
    /// carry them (for <c>GetClassNames</c> where ML.NET's usual last step, <c>MapKeyToValue("PredictedLabel")</c>, leaves
    /// no key values to read; found by an outside sweep).
    /// </summary>
    public static IReadOnlyList<string>? Names(DataViewSchema outputSchema)
    {
        if (outputSchema.GetColumnOrNull(ServingPipeline.ScoreColumnName) is not { Type: VectorDataViewType { Size: > 0 } vector } score
            || score.Annotations.Schema.GetColumnOrNull(SlotNames) is null)
        {
            return null;
        }

        VBuffer<ReadOnlyMemory<char>> names = default;
        score.GetSlotNames(ref names);
        return names.Length == vector.Size ? names.DenseValues().Select(n => n.ToString()).ToList() : null;
    }

    /// <summary>The annotations an estimator's output schema promises for <c>Score</c> (their types only: a <c>SchemaShape</c> carries no values).</summary>
    public static DataViewSchema.Annotations Promised()
    {
        var annotations = new DataViewSchema.Annotations.Builder();
        annotations.Add(SlotNames, new VectorDataViewType(TextDataViewType.Instance, 2), (ref VBuffer<ReadOnlyMemory<char>> value) => value = default);
        AddKinds(annotations);
        return annotations.ToAnnotations();
    }

    private static void AddKinds(DataViewSchema.Annotations.Builder annotations)
    {
        foreach (var (kind, text) in new[] { ColumnKind, ValueKind })
        {
            annotations.Add(kind, TextDataViewType.Instance, (ref ReadOnlyMemory<char> value) => value = text.AsMemory());
        }
    }

    /// <summary><paramref name="scored"/>, its schema annotated.</summary>
    public static IDataView Annotate(IDataView scored)
    {
        var schema = Annotate(scored.Schema);
        return ReferenceEquals(schema, scored.Schema) ? scored : new View(scored, schema);
    }

    /// <summary>The columns of <paramref name="inner"/> at the indices of <paramref name="columns"/> (the two schemas differ in annotations only).</summary>
    public static IEnumerable<DataViewSchema.Column> Inner(DataViewSchema inner, IEnumerable<DataViewSchema.Column> columns) =>
        columns.Select(c => inner[c.Index]).ToList();

    private sealed class View(IDataView inner, DataViewSchema schema) : PassThroughView(inner)
    {
        public override DataViewSchema Schema => schema;

        public override DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
            base.GetRowCursor(Inner(Source.Schema, columnsNeeded), rand);

        public override DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            base.GetRowCursorSet(Inner(Source.Schema, columnsNeeded), n, rand);

        protected override DataViewRowCursor Wrap(DataViewRowCursor cursor) => new Cursor(cursor, schema);
    }

    private sealed class Cursor(DataViewRowCursor inner, DataViewSchema schema) : PassThroughCursor(inner)
    {
        public override DataViewSchema Schema => schema;

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => base.GetGetter<TValue>(Source.Schema[column.Index]);

        public override bool IsColumnActive(DataViewSchema.Column column) => base.IsColumnActive(Source.Schema[column.Index]);
    }
}
