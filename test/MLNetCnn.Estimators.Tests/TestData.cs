using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Estimators.Data;

[assembly: Parallelize(Workers = 1, Scope = ExecutionScope.ClassLevel)]

namespace MLNetCnn.Estimators.Tests;

/// <summary>Small data views built in memory, for the estimator contracts and the bad-input tests.</summary>
internal static class TestData
{
    private static readonly Lazy<(float[] Pixels, uint[] Labels)> Embedded = new(() =>
    {
        var ml = new MLContext();
        var view = FashionMnist.Load(ml, FashionMnistSplit.Train, FashionMnistSource.Embedded);
        var rows = ml.Data.CreateEnumerable<Row>(view, reuseRowObject: false).ToList();
        return (rows.SelectMany(r => r.Features).ToArray(), rows.Select(r => r.Label).ToArray());
    });

    /// <summary>The first <paramref name="count"/> embedded training images (classes interleaved by a fixed shuffle).</summary>
    public static IDataView FashionSubset(MLContext ml, int count, int seed = 0)
    {
        var (pixels, labels) = Embedded.Value;
        var order = Enumerable.Range(0, labels.Length).ToArray();
        new Random(seed).Shuffle(order);
        var rows = order.Take(count).Select(i => new FloatRow
        {
            Label = FashionMnist.ClassNames[(int)labels[i] - 1],
            Features = pixels.AsSpan(i * 784, 784).ToArray(),
        }).ToList();
        return Build(ml, rows, 784, FashionMnist.ClassNames);
    }

    /// <summary>
    /// <paramref name="count"/> 8 x 8 grey images of <paramref name="classNames"/> in turn, each class a grey level
    /// (80 apart) with a faint pattern: the small, easily learnt set of the contract tests.
    /// </summary>
    public static IDataView Tiny(MLContext ml, int count, IReadOnlyList<string> classNames) => Build(
        ml,
        Enumerable.Range(0, count).Select(i => new FloatRow { Label = classNames[i % classNames.Count], Features = TinyPixels(i % classNames.Count) }).ToList(),
        64,
        classNames);

    /// <summary>The 64 pixels of a <see cref="Tiny"/> image of class index <paramref name="k"/>.</summary>
    public static float[] TinyPixels(int k) => Enumerable.Range(0, 64).Select(j => (float)((k * 80) + (j % 7))).ToArray();

    /// <summary>A data view with a key label (keyed on <paramref name="classNames"/>) and a float vector of <paramref name="size"/>.</summary>
    public static IDataView Build(MLContext ml, IEnumerable<FloatRow> rows, int size, IReadOnlyList<string> classNames)
    {
        var schema = SchemaDefinition.Create(typeof(FloatRow));
        schema[nameof(FloatRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        var view = ml.Data.LoadFromEnumerable(rows, schema);
        var keys = ml.Data.LoadFromEnumerable(classNames.Select(n => new NameRow { Label = n }));
        return ml.Transforms.Conversion.MapValueToKey("Label", keyData: keys).Fit(view).Transform(view);
    }

    public sealed class FloatRow
    {
        public string Label { get; set; } = string.Empty;

        public float[] Features { get; set; } = Array.Empty<float>();
    }

    public sealed class Row
    {
        [VectorType(784)]
        public float[] Features { get; set; } = Array.Empty<float>();

        [KeyType(10)]
        public uint Label { get; set; }
    }

    /// <summary>8 x 8 grey rows of two classes whose reading throws: a check that must come before any read uses it.</summary>
    public static IDataView Unreadable(MLContext ml) => Build(ml, UnreadableRows(), 64, ["a", "b"]);

    private static IEnumerable<FloatRow> UnreadableRows()
    {
        throw new InvalidOperationException("the data was read before the check");
#pragma warning disable CS0162 // unreachable: makes this an iterator, so the throw happens when rows are read
        yield break;
#pragma warning restore CS0162
    }

    /// <summary>Copies the files under <paramref name="from"/> to <paramref name="to"/>, replacing what was there.</summary>
    public static void CopyFolder(string from, string to)
    {
        if (Directory.Exists(to))
        {
            Directory.Delete(to, recursive: true);
        }

        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private sealed class NameRow
    {
        public string Label { get; set; } = string.Empty;
    }
}
