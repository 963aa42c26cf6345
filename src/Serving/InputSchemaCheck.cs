using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>
/// Compares the vector columns a model was trained on with those it is asked to score, before ONNX Runtime sees them:
/// a <c>float[] Features</c> property without <c>[VectorType(784)]</c> (a variable-size vector) or a vector of another
/// length failed deep inside ML.NET's ONNX transformer with "Index was out of range" or "Length of memory (256) must
/// match product of dimensions (64)", naming neither the column nor the sizes. A column the model needs and the input
/// lacks is named with the type it was trained on and the columns found (<see cref="Bind"/>).
/// </summary>
internal static class InputSchemaCheck
{
    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the column, the type the model was trained on and the type found; with
    /// <paramref name="classNames"/>, also when the training label's column is keyed otherwise (<see cref="CheckLabel"/>).
    /// </summary>
    public static void Check(DataViewSchema trainedOn, DataViewSchema given, IReadOnlyList<string>? classNames = null)
    {
        if (classNames is not null)
        {
            CheckLabel(trainedOn, given, classNames);
        }

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

    /// <summary>
    /// Runs <paramref name="bind"/> (a chain's <c>Transform</c>, output schema or row mapper for <paramref name="given"/>),
    /// naming a missing column fully. Found by an outside sweep: Model Builder's input class (<c>byte[] ImageSource</c>)
    /// given to a model of image paths failed with ML.NET's "Could not find input column 'ImagePath'", which says neither
    /// what the column must hold nor what the input has instead.
    /// </summary>
    public static T Bind<T>(DataViewSchema trainedOn, DataViewSchema given, Func<T> bind)
    {
        try
        {
            return bind();
        }
        catch (ArgumentOutOfRangeException e) when (MissingColumn(trainedOn, given, e) is { } missing)
        {
            throw missing;
        }
    }

    /// <summary>The column ML.NET reports missing, when it is one the model was trained on and <paramref name="given"/> lacks.</summary>
    private static ArgumentException? MissingColumn(DataViewSchema trainedOn, DataViewSchema given, ArgumentOutOfRangeException e)
    {
        foreach (var column in trainedOn.Where(c => !c.IsHidden && given.GetColumnOrNull(c.Name) is null))
        {
            if (e.Message.Contains($"'{column.Name}'", StringComparison.Ordinal))
            {
                string found = string.Join(", ", given.Where(c => !c.IsHidden).Select(c => $"{c.Name} ({c.Type})"));
                return new ArgumentException(
                    $"The input has no column '{column.Name}', which the model was trained on as {column.Type}; its columns are: {(found.Length > 0 ? found : "none")}. " +
                    $"Name the input class's property '{column.Name}' or give it [ColumnName(\"{column.Name}\")].",
                    nameof(given),
                    e);
            }
        }

        return null;
    }

    /// <summary>
    /// Found by an outside sweep: ML.NET's <c>Evaluate</c> compares key numbers, so test data whose <c>Label</c> was keyed
    /// on its own (a <c>MapValueToKey</c> fitted on the test set: another order, a class missing) scored silently wrong
    /// (micro-accuracy 0.09 instead of 0.49). The training label is the key column whose values are the model's class
    /// names; the same column in <paramref name="given"/> must carry the same values in the same order (or, without key
    /// values, as many keys, as an input class's <c>[KeyType(10)]</c> does).
    /// </summary>
    private static void CheckLabel(DataViewSchema trainedOn, DataViewSchema given, IReadOnlyList<string> classNames)
    {
        foreach (var trained in trainedOn.Where(c => !c.IsHidden && c.Type is KeyDataViewType))
        {
            if (ClassKeyValues.AsText(trained, classNames.Count) is not { } names || !names.SequenceEqual(classNames, StringComparer.Ordinal)
                || given.GetColumnOrNull(trained.Name) is not { Type: KeyDataViewType key } column)
            {
                continue;
            }

            bool hasValues = column.Annotations.Schema.GetColumnOrNull("KeyValues") is not null;
            var found = hasValues ? ClassKeyValues.AsText(column, (int)key.Count) : null;
            if (hasValues ? found is not null && found.SequenceEqual(classNames, StringComparer.Ordinal) : (int)key.Count == classNames.Count)
            {
                continue;
            }

            string what = found is null ? $"{key.Count} keys" : $"[{string.Join(", ", found)}]";
            throw new ArgumentException($"Column '{column.Name}' is keyed {what}; the model was trained on it keyed [{string.Join(", ", classNames)}]. Evaluate compares key numbers, so its figures would compare other classes: key this data with the training data's fitted MapValueToKey (or ImageFolder.LoadLabelled with the model's class names), or drop the column before scoring.", nameof(given));
        }
    }
}
