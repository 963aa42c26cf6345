using System.Runtime.ExceptionServices;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>
/// Scoring runs the decoding steps inside ML.NET cursors, which may run on worker threads: a bad file then
/// reaches the caller as "Splitter/consolidator worker encountered exception while consuming source data",
/// with the message that names the file two levels down. This view passes every row through unchanged and
/// rethrows, from such a failure, the decoder's own <see cref="InvalidDataException"/> that names the file (with its
/// cause, such as an <see cref="ImageTooLargeException"/>, and its original stack trace); the worker wrappers add nothing.
/// </summary>
internal static class ScoringErrors
{
    /// <summary>Wraps <paramref name="scored"/> so that a file's error surfaces at the top.</summary>
    public static IDataView NameTheInput(IDataView scored) => new View(scored);

    private static Exception Translate(Exception e)
    {
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is InvalidDataException data)
            {
                return data;
            }
        }

        return e;
    }

    private sealed class View(IDataView inner) : PassThroughView(inner)
    {
        public override DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
            Run(() => base.GetRowCursor(columnsNeeded, rand));

        public override DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            Run(() => base.GetRowCursorSet(columnsNeeded, n, rand));

        protected override DataViewRowCursor Wrap(DataViewRowCursor cursor) => new Cursor(cursor);
    }

    private sealed class Cursor(DataViewRowCursor inner) : PassThroughCursor(inner)
    {
        public override bool MoveNext() => Run(base.MoveNext);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            var getter = base.GetGetter<TValue>(column);
            return (ref TValue value) =>
            {
                try
                {
                    getter(ref value);
                }
                catch (Exception e) when (Translate(e) is InvalidDataException translated && !ReferenceEquals(translated, e))
                {
                    ExceptionDispatchInfo.Throw(translated);
                }
            };
        }
    }

    private static T Run<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (Translate(e) is InvalidDataException translated && !ReferenceEquals(translated, e))
        {
            ExceptionDispatchInfo.Throw(translated);
            throw;
        }
    }
}
