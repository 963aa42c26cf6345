using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>
/// Checks, row by row, that each fixed-size vector column the model was trained on holds as many values as its type
/// says. ML.NET does not: an input class whose <c>[VectorType(64)]</c> array held 100 values reached ONNX Runtime,
/// which failed with "Length of memory (100) must match product of dimensions (64)", naming neither the column nor the
/// row (<see cref="InputSchemaCheck"/> covers a column typed with another size, not a row that breaks its type).
/// </summary>
internal sealed class VectorLengthCheck
{
    private readonly Dictionary<int, (string Name, VectorDataViewType Type)> _sizes;

    private VectorLengthCheck(Dictionary<int, (string Name, VectorDataViewType Type)> sizes) => _sizes = sizes;

    /// <summary>The check of rows of <paramref name="given"/> against <paramref name="trainedOn"/>; null when no vector column of both has a fixed size.</summary>
    public static VectorLengthCheck? For(DataViewSchema trainedOn, DataViewSchema given)
    {
        var sizes = new Dictionary<int, (string, VectorDataViewType)>();
        foreach (var expected in trainedOn.Where(c => !c.IsHidden && c.Type is VectorDataViewType { Size: > 0 }))
        {
            if (given.GetColumnOrNull(expected.Name) is { } column && column.Type is VectorDataViewType { Size: > 0 })
            {
                sizes[column.Index] = (column.Name, (VectorDataViewType)expected.Type);
            }
        }

        return sizes.Count > 0 ? new VectorLengthCheck(sizes) : null;
    }

    /// <summary><paramref name="input"/>, each row checked as it is read (the error names the row).</summary>
    public IDataView Wrap(IDataView input) => new View(input, _sizes);

    /// <summary>
    /// <paramref name="input"/>, checked when read; the caller keeps ownership of it. The error names no row: a
    /// PredictionEngine's position counts its predictions, which is no row of the caller's.
    /// </summary>
    public DataViewRow Wrap(DataViewRow input) => new Row(input, _sizes);

    private static ValueGetter<TValue> Checked<TValue>(ValueGetter<TValue> getter, DataViewSchema.Column column, Dictionary<int, (string Name, VectorDataViewType Type)> sizes, Func<long>? position)
    {
        if (!sizes.TryGetValue(column.Index, out var expected) || !typeof(TValue).IsGenericType || typeof(TValue).GetGenericTypeDefinition() != typeof(VBuffer<>))
        {
            return getter;
        }

        var vector = typeof(VectorLengthCheck).GetMethod(nameof(CheckedVector), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(typeof(TValue).GetGenericArguments()[0]);
        return (ValueGetter<TValue>)vector.Invoke(null, [getter, expected.Name, expected.Type, position])!;
    }

    private static ValueGetter<VBuffer<T>> CheckedVector<T>(ValueGetter<VBuffer<T>> getter, string name, VectorDataViewType type, Func<long>? position) =>
        (ref VBuffer<T> value) =>
        {
            getter(ref value);
            if (value.Length != type.Size)
            {
                throw new InvalidDataException(
                    $"Column '{name}'{(position is null ? string.Empty : $" of row {position()}")} holds {value.Length} values; the model was trained on {type} ({type.Size} values a row). " +
                    $"An input class's [VectorType({type.Size})] array must hold exactly {type.Size} values.");
            }
        };

    private sealed class View(IDataView inner, Dictionary<int, (string Name, VectorDataViewType Type)> sizes) : PassThroughView(inner)
    {
        protected override DataViewRowCursor Wrap(DataViewRowCursor cursor) => new Cursor(cursor, sizes);
    }

    private sealed class Cursor(DataViewRowCursor inner, Dictionary<int, (string Name, VectorDataViewType Type)> sizes) : PassThroughCursor(inner)
    {
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => Checked(base.GetGetter<TValue>(column), column, sizes, () => Position);
    }

    private sealed class Row(DataViewRow inner, Dictionary<int, (string Name, VectorDataViewType Type)> sizes) : PassThroughRow(inner, ownsInner: false)
    {
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => Checked(base.GetGetter<TValue>(column), column, sizes, null);
    }
}
