using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>A data view that hands out its inner view's rows through cursors of its own (<see cref="Wrap"/>).</summary>
internal abstract class PassThroughView(IDataView inner) : IDataView
{
    /// <summary>The view whose rows are passed on.</summary>
    protected IDataView Source => inner;

    public bool CanShuffle => inner.CanShuffle;

    public virtual DataViewSchema Schema => inner.Schema;

    public long? GetRowCount() => inner.GetRowCount();

    public virtual DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        Wrap(inner.GetRowCursor(columnsNeeded, rand));

    public virtual DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        inner.GetRowCursorSet(columnsNeeded, n, rand).Select(Wrap).ToArray();

    /// <summary>The cursor handed out for one of the inner view's.</summary>
    protected abstract DataViewRowCursor Wrap(DataViewRowCursor cursor);
}

/// <summary>A cursor that passes its inner cursor's rows on; it owns and disposes the inner cursor.</summary>
internal abstract class PassThroughCursor(DataViewRowCursor inner) : DataViewRowCursor
{
    /// <summary>The cursor whose rows are passed on.</summary>
    protected DataViewRowCursor Source => inner;

    public override long Position => inner.Position;

    public override long Batch => inner.Batch;

    public override DataViewSchema Schema => inner.Schema;

    public override bool MoveNext() => inner.MoveNext();

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => inner.GetGetter<TValue>(column);

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

/// <summary>
/// A row that passes its inner row's values on. It disposes the inner row only when it owns it: a row handed to a mapper
/// stays its caller's, the row a mapper returns is the mapper's caller's to dispose, with what it wraps.
/// </summary>
internal abstract class PassThroughRow(DataViewRow inner, bool ownsInner) : DataViewRow
{
    /// <summary>The row whose values are passed on.</summary>
    protected DataViewRow Source => inner;

    public override long Position => inner.Position;

    public override long Batch => inner.Batch;

    public override DataViewSchema Schema => inner.Schema;

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => inner.GetGetter<TValue>(column);

    public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();

    public override bool IsColumnActive(DataViewSchema.Column column) => inner.IsColumnActive(column);

    protected override void Dispose(bool disposing)
    {
        if (disposing && ownsInner)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
