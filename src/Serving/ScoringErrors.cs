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

    private sealed class View(IDataView inner) : IDataView
    {
        public bool CanShuffle => inner.CanShuffle;

        public DataViewSchema Schema => inner.Schema;

        public long? GetRowCount() => inner.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
            new Cursor(Run(() => inner.GetRowCursor(columnsNeeded, rand)));

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            Run(() => inner.GetRowCursorSet(columnsNeeded, n, rand)).Select(c => (DataViewRowCursor)new Cursor(c)).ToArray();
    }

    private sealed class Cursor(DataViewRowCursor inner) : DataViewRowCursor
    {
        public override long Position => inner.Position;

        public override long Batch => inner.Batch;

        public override DataViewSchema Schema => inner.Schema;

        public override bool MoveNext() => Run(inner.MoveNext);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            var getter = inner.GetGetter<TValue>(column);
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

        public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => inner.IsColumnActive(column);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
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
