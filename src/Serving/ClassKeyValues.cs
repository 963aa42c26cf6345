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

    /// <summary>The type <c>PredictedLabel</c>'s key values take for a label whose key values are of <paramref name="itemType"/>: that type when kept, else text.</summary>
    public static PrimitiveDataViewType KeptType(DataViewType? itemType) =>
        itemType is PrimitiveDataViewType type && ValueTypes.Contains(type) ? type : TextDataViewType.Instance;

    /// <summary>
    /// The key-values annotation an estimator's output schema promises for <c>PredictedLabel</c> (types only: a
    /// <c>SchemaShape</c> carries no values), given the label's key-value item type.
    /// </summary>
    public static DataViewSchema.Annotations PromisedKeyValues(DataViewType? labelItemType)
    {
        var type = KeptType(labelItemType);
        var annotations = new DataViewSchema.Annotations.Builder();
        annotations.Add("KeyValues", new VectorDataViewType(type, 2), (Delegate)Generic(nameof(NoValues), type.RawType).Invoke(null, null)!);
        return annotations.ToAnnotations();
    }

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
    /// <paramref name="classNames"/>'s count of them of a <see cref="KeptType"/> other than text, else the names as text.
    /// (The trainer refuses classes whose values read alike as text, so the values are distinct too.)
    /// </summary>
    public static IEstimator<ITransformer> PredictedLabel(MLContext mlContext, IReadOnlyList<string> classNames, DataViewSchema.Column? label)
    {
        var item = KeptType((label?.Annotations.Schema.GetColumnOrNull("KeyValues")?.Type as VectorDataViewType)?.ItemType);
        if (label is { } typed && item is not TextDataViewType
            && (IEstimator<ITransformer>?)Generic(nameof(TypedSteps), item.RawType).Invoke(null, [mlContext, typed, classNames.Count]) is { } steps)
        {
            return steps;
        }

        return Steps(mlContext, classNames.ToArray());
    }

    private static IEstimator<ITransformer>? TypedSteps<T>(MLContext mlContext, DataViewSchema.Column label, int count)
    {
        VBuffer<T> values = default;
        label.GetKeyValues(ref values);
        var array = values.DenseValues().ToArray();
        return array.Length == count ? Steps(mlContext, array) : null;
    }

    private static ValueGetter<VBuffer<T>> NoValues<T>() => (ref VBuffer<T> v) => v = default;

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
