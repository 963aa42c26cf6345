using System.Globalization;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>
/// The values a label key names its classes by, read as text (the model's class names) and kept in their own type
/// for <c>PredictedLabel</c>: as with ML.NET's own trainers, a label keyed on <c>UInt32</c> values maps back to
/// <c>UInt32</c> through <c>MapKeyToValue</c>, not to the text of the numbers.
/// </summary>
internal static class ClassKeyValues
{
    /// <summary>The item types of key values that <c>PredictedLabel</c> keeps as they are: text, Boolean and ML.NET's numbers.</summary>
    public static readonly IReadOnlyList<PrimitiveDataViewType> ValueTypes =
    [
        TextDataViewType.Instance, BooleanDataViewType.Instance, NumberDataViewType.Single, NumberDataViewType.Double,
        NumberDataViewType.SByte, NumberDataViewType.Byte, NumberDataViewType.Int16, NumberDataViewType.UInt16,
        NumberDataViewType.Int32, NumberDataViewType.UInt32, NumberDataViewType.Int64, NumberDataViewType.UInt64,
    ];

    /// <summary>The <paramref name="count"/> key values of <paramref name="key"/> as text; null when it has none, or another number of them.</summary>
    public static IReadOnlyList<string>? AsText(DataViewSchema.Column key, int count)
    {
        if (key.Annotations.Schema.GetColumnOrNull("KeyValues")?.Type is not VectorDataViewType { ItemType: var item })
        {
            return null;
        }

        var list = (IReadOnlyList<string>)Generic(nameof(ReadAsText), item.RawType).Invoke(null, [key])!;
        return list.Count == count ? list : null;
    }

    /// <summary>
    /// The steps from the arg-max index to <c>PredictedLabel</c>: the index mapped to the class's value, then keyed on the
    /// values in class order. The values are <paramref name="label"/>'s key values in their own type when it has
    /// <paramref name="classNames"/>'s count of them in one of <see cref="ValueTypes"/>, else the names as text.
    /// </summary>
    public static IEstimator<ITransformer> PredictedLabel(MLContext mlContext, IReadOnlyList<string> classNames, DataViewSchema.Column? label)
    {
        if (label?.Annotations.Schema.GetColumnOrNull("KeyValues")?.Type is VectorDataViewType { ItemType: PrimitiveDataViewType item }
            && item is not TextDataViewType && ValueTypes.Contains(item))
        {
            var steps = (IEstimator<ITransformer>?)Generic(nameof(TypedSteps), item.RawType).Invoke(null, [mlContext, label.Value, classNames.Count]);
            if (steps is not null)
            {
                return steps;
            }
        }

        return Steps(mlContext, classNames.ToArray());
    }

    private static IEstimator<ITransformer>? TypedSteps<T>(MLContext mlContext, DataViewSchema.Column label, int count)
    {
        VBuffer<T> values = default;
        label.GetKeyValues(ref values);
        var array = values.DenseValues().ToArray();
        return array.Length == count && array.Distinct().Count() == count ? Steps(mlContext, array) : null;
    }

    private static IEstimator<ITransformer> Steps<T>(MLContext mlContext, T[] values)
    {
        var pairs = values.Select((v, i) => new KeyValuePair<uint, T>((uint)i, v));
        var keyData = mlContext.Data.LoadFromEnumerable(values.Select(v => new KeyRow<T> { Value = v }));
        return mlContext.Transforms.Conversion.MapValue(ServingPipeline.PredictedValueColumnName, pairs, ScoreArgMax.OutputColumnName)
            .Append(mlContext.Transforms.Conversion.MapValueToKey(ServingPipeline.PredictedLabelColumnName, ServingPipeline.PredictedValueColumnName, keyData: keyData));
    }

    private static List<string> ReadAsText<T>(DataViewSchema.Column key)
    {
        VBuffer<T> values = default;
        key.GetKeyValues(ref values);
        return values.DenseValues().Select(v => Convert.ToString(v, CultureInfo.InvariantCulture) ?? string.Empty).ToList();
    }

    private static MethodInfo Generic(string name, Type type) =>
        typeof(ClassKeyValues).GetMethod(name, BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(type);

    private sealed class KeyRow<T>
    {
        public T Value { get; set; } = default!;
    }
}
