using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators.Data;

/// <summary>
/// Reads an image column and a key label column of an <see cref="IDataView"/> into memory, checking
/// every value on the way so that bad input becomes a clear error, never a native crash.
/// </summary>
internal static class DataViewImageReader
{
    /// <summary>Checks the column types and returns the label's class count and class names.</summary>
    public static (int NumClasses, IReadOnlyList<string> ClassNames) CheckSchema(DataViewSchema schema, string labelColumnName, string featureColumnName, ImageShape shape)
    {
        var label = schema.GetColumnOrNull(labelColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(labelColumnName), $"Label column '{labelColumnName}' not found. Columns: {string.Join(", ", schema.Select(c => c.Name))}.");
        if (label.Type is not KeyDataViewType key)
        {
            throw new ArgumentException($"Label column '{labelColumnName}' must be a key type (use mlContext.Transforms.Conversion.MapValueToKey); found {label.Type}.");
        }

        if (key.Count < 2)
        {
            throw new ArgumentException($"Label column '{labelColumnName}' must have at least 2 classes; its key type has {key.Count}.");
        }

        if (key.Count > int.MaxValue)
        {
            throw new ArgumentException($"Label column '{labelColumnName}' has {key.Count} classes; at most {int.MaxValue} are supported.");
        }

        CheckFeatureColumn(schema, featureColumnName, shape);
        return ((int)key.Count, ClassNames(label, (int)key.Count));
    }

    /// <summary>Checks that the feature column is a float vector of exactly C x H x W values.</summary>
    public static void CheckFeatureColumn(DataViewSchema schema, string featureColumnName, ImageShape shape)
    {
        var features = schema.GetColumnOrNull(featureColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(featureColumnName), $"Feature column '{featureColumnName}' not found. Columns: {string.Join(", ", schema.Select(c => c.Name))}.");
        if (features.Type is not VectorDataViewType vector || vector.ItemType != NumberDataViewType.Single)
        {
            throw new ArgumentException($"Feature column '{featureColumnName}' must be a vector of Single holding {shape} = {shape.Size} pixel values; found {features.Type}.");
        }

        if (vector.Size != shape.Size)
        {
            throw new ArgumentException($"Feature column '{featureColumnName}' has {(vector.Size == 0 ? "variable-size vectors" : $"{vector.Size} values")} but the image shape {shape} needs {shape.Size}.");
        }
    }

    /// <summary>Reads the pixels of all rows, without labels (every image class 0 of 2), for statistics.</summary>
    public static ImageDataset ReadPixels(IDataView data, string featureColumnName, ImageShape shape)
    {
        CheckFeatureColumn(data.Schema, featureColumnName, shape);
        return Read(data, null, featureColumnName, shape, 2, "featurizer");
    }

    /// <summary>Reads all rows into an <see cref="ImageDataset"/>.</summary>
    public static ImageDataset Read(IDataView data, string? labelColumnName, string featureColumnName, ImageShape shape, int numClasses, string role)
    {
        DataViewSchema.Column? label = labelColumnName is null ? null : data.Schema[labelColumnName];
        var features = data.Schema[featureColumnName];
        int size = shape.Size;
        long maxRows = Array.MaxLength / size;
        long capacity = data.GetRowCount() ?? Math.Clamp((64L << 20) / size, 1, 1024); // unknown: about 256 MB of pixels to start, then doubling
        if (capacity > maxRows)
        {
            throw TooMany(role, capacity, shape, maxRows);
        }

        var pixels = new float[capacity * size];
        var labels = new int[capacity];
        int count = 0;
        var classesSeen = new HashSet<int>();

        using (var cursor = data.GetRowCursor(label is { } l ? new[] { l, features } : new[] { features }))
        {
            ValueGetter<uint> getLabel = label is { } labelColumn ? cursor.GetGetter<uint>(labelColumn) : (ref uint value) => value = 1;
            var getFeatures = cursor.GetGetter<VBuffer<float>>(features);
            uint key = 0;
            VBuffer<float> buffer = default;
            while (cursor.MoveNext())
            {
                if (count == labels.Length)
                {
                    if (count >= maxRows)
                    {
                        throw TooMany(role, count + 1L, shape, maxRows);
                    }

                    long grown = Math.Min(Math.Max(2L * count, 1), maxRows);
                    Array.Resize(ref labels, (int)grown);
                    Array.Resize(ref pixels, (int)(grown * size));
                }

                getLabel(ref key);
                if (key == 0 || key > numClasses)
                {
                    throw new InvalidOperationException($"{role} data, row {count}: label column '{labelColumnName}' has a missing or out-of-range key ({key}); expected 1..{numClasses}.");
                }

                getFeatures(ref buffer);
                if (buffer.Length != size)
                {
                    throw new InvalidOperationException($"{role} data, row {count}: feature column '{featureColumnName}' has {buffer.Length} values; the image shape {shape} needs {size}.");
                }

                var destination = pixels.AsSpan(count * size, size);
                buffer.CopyTo(destination);
                int bad = IndexOfNonFinite(destination);
                if (bad >= 0)
                {
                    throw new InvalidOperationException($"{role} data, row {count}: feature column '{featureColumnName}' has a non-finite pixel ({destination[bad]}) at index {bad}; pixels must be finite numbers.");
                }

                labels[count] = (int)key - 1;
                classesSeen.Add(labels[count]);
                count++;
            }
        }

        if (count == 0)
        {
            throw new InvalidOperationException($"The {role} data view has no rows.");
        }

        if (role == "training" && classesSeen.Count < 2)
        {
            throw new InvalidOperationException($"Label column '{labelColumnName}' holds a single class in the {role} data ({count} rows, all class index {classesSeen.Single()}); a classifier needs at least 2.");
        }

        Array.Resize(ref labels, count);
        Array.Resize(ref pixels, count * size);
        return new ImageDataset(pixels, labels, shape, numClasses);
    }

    private static InvalidOperationException TooMany(string role, long rows, ImageShape shape, long maxRows) =>
        new($"The {role} data holds at least {rows} images of {shape}; one array holds at most {maxRows} of them ({Array.MaxLength} values). Use a smaller ImageShape or fewer images.");

    private static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static IReadOnlyList<string> ClassNames(DataViewSchema.Column label, int count)
    {
        if (label.Annotations.Schema.GetColumnOrNull("KeyValues") is { } column && column.Type is VectorDataViewType { ItemType: TextDataViewType })
        {
            VBuffer<ReadOnlyMemory<char>> names = default;
            label.GetKeyValues(ref names);
            var list = names.DenseValues().Select(n => n.ToString()).ToList();
            if (list.Count == count)
            {
                return list;
            }
        }

        if (label.Annotations.Schema.GetColumnOrNull("KeyValues") is { } other && other.Type is VectorDataViewType vector)
        {
            return ReadKeyValuesAsText(label, vector.ItemType, count);
        }

        return Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
    }

    private static IReadOnlyList<string> ReadKeyValuesAsText(DataViewSchema.Column label, DataViewType itemType, int count)
    {
        var method = typeof(DataViewImageReader).GetMethod(nameof(KeyValuesAsText), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        return (IReadOnlyList<string>)method.MakeGenericMethod(itemType.RawType).Invoke(null, new object[] { label, count })!;
    }

    private static IReadOnlyList<string> KeyValuesAsText<T>(DataViewSchema.Column label, int count)
    {
        VBuffer<T> values = default;
        label.GetKeyValues(ref values);
        var list = values.DenseValues().Select(v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty).ToList();
        return list.Count == count ? list : Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
    }
}
