using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>
/// Compares the vector columns a model was trained on with those it is asked to score, before ONNX Runtime sees them:
/// a <c>float[] Features</c> property without <c>[VectorType(784)]</c> (a variable-size vector) or a vector of another
/// length failed deep inside ML.NET's ONNX transformer with "Index was out of range" or "Length of memory (256) must
/// match product of dimensions (64)", naming neither the column nor the sizes.
/// </summary>
internal static class InputSchemaCheck
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the column, the type the model was trained on and the type found.</summary>
    public static void Check(DataViewSchema trainedOn, DataViewSchema given)
    {
        foreach (var expected in trainedOn.Where(c => !c.IsHidden && c.Type is VectorDataViewType))
        {
            var want = (VectorDataViewType)expected.Type;
            if (given.GetColumnOrNull(expected.Name) is not { } column
                || (column.Type is VectorDataViewType found && found.ItemType.Equals(want.ItemType) && found.Size == want.Size))
            {
                continue; // absent (the chain names it), or the same values however the dimensions are written
            }

            string hint = column.Type is VectorDataViewType { Size: 0 } variable && variable.ItemType.Equals(want.ItemType)
                ? $" It is a variable-size vector: give the input class's property [VectorType({want.Size})]."
                : string.Empty;
            throw new ArgumentException($"Column '{expected.Name}' is {column.Type}; the model was trained on {expected.Type}{(want.Size > 0 ? $" ({want.Size} values a row)" : string.Empty)}.{hint}", nameof(given));
        }
    }
}
