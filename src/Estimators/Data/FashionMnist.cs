using System.Reflection;
using Microsoft.ML;
using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Estimators.Data;

/// <summary>Which Fashion-MNIST split to load.</summary>
public enum FashionMnistSplit
{
    /// <summary>Training images (60,000 in the full set, 6,000 in the embedded subset).</summary>
    Train,

    /// <summary>Test images (10,000 in the full set, 1,000 in the embedded subset).</summary>
    Test,
}

/// <summary>Where Fashion-MNIST comes from.</summary>
public enum FashionMnistSource
{
    /// <summary>The full set when found (see <see cref="FashionMnist.DefaultDirectory"/>), else the embedded subset.</summary>
    Auto,

    /// <summary>The stratified subset embedded in this assembly (600 train / 100 test images per class).</summary>
    Embedded,

    /// <summary>The full set from <see cref="FashionMnist.DefaultDirectory"/>; fails when it is not installed.</summary>
    Full,
}

/// <summary>
/// Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017; Zalando, MIT licence): 28x28 grey images of 10
/// clothing classes. A stratified subset is embedded so examples and tests work offline; the full set
/// comes from <c>apt-get install dataset-fashion-mnist</c> or any folder holding the four IDX files.
/// </summary>
public static class FashionMnist
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package puts the IDX files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Shape of one image.</summary>
    public static ImageShape ImageShape { get; } = new(1, 28, 28);

    /// <summary>Class names in label-index order.</summary>
    public static IReadOnlyList<string> ClassNames { get; } = new[]
    {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    };

    /// <summary>True when the full set is installed at <see cref="DefaultDirectory"/>.</summary>
    public static bool IsFullSetInstalled => File.Exists(Path.Combine(DefaultDirectory, FileName(FashionMnistSplit.Train, "images")));

    /// <summary>Loads a split with a key <c>Label</c> (class names as key values) and a 784-float <c>Features</c> column.</summary>
    public static IDataView Load(MLContext mlContext, FashionMnistSplit split, FashionMnistSource source = FashionMnistSource.Auto)
    {
        bool full = source == FashionMnistSource.Full || (source == FashionMnistSource.Auto && IsFullSetInstalled);
        return full ? Load(mlContext, split, DefaultDirectory) : LoadEmbedded(mlContext, split);
    }

    /// <summary>Loads a split from a folder holding the IDX files (gzip, as distributed, or raw).</summary>
    public static IDataView Load(MLContext mlContext, FashionMnistSplit split, string directory)
    {
        string images = Locate(directory, FileName(split, "images"));
        string labels = Locate(directory, FileName(split, "labels"));
        return ImageData.LoadIdx(mlContext, images, labels, ClassNames);
    }

    private static IDataView LoadEmbedded(MLContext mlContext, FashionMnistSplit split)
    {
        string imagesName = $"MLNetCnn.FashionMnist.{FileName(split, "images")}";
        string labelsName = $"MLNetCnn.FashionMnist.{FileName(split, "labels")}";
        var assembly = Assembly.GetExecutingAssembly();
        using var images = assembly.GetManifestResourceStream(imagesName) ?? throw new InvalidOperationException($"Embedded resource '{imagesName}' is missing from {assembly.GetName().Name}.");
        using var labels = assembly.GetManifestResourceStream(labelsName) ?? throw new InvalidOperationException($"Embedded resource '{labelsName}' is missing from {assembly.GetName().Name}.");
        return ImageData.FromIdx(mlContext, IdxReader.Read(images, imagesName), imagesName, IdxReader.Read(labels, labelsName), labelsName, ClassNames);
    }

    private static string FileName(FashionMnistSplit split, string kind) =>
        $"{(split == FashionMnistSplit.Train ? "train" : "t10k")}-{kind}-{(kind == "images" ? "idx3" : "idx1")}-ubyte.gz";

    private static string Locate(string directory, string gzipName)
    {
        string gz = Path.Combine(directory, gzipName);
        if (File.Exists(gz))
        {
            return gz;
        }

        string raw = Path.Combine(directory, Path.GetFileNameWithoutExtension(gzipName));
        if (File.Exists(raw))
        {
            return raw;
        }

        throw new FileNotFoundException($"Fashion-MNIST file '{gzipName}' (or '{Path.GetFileName(raw)}') was not found in '{directory}'. Install it with 'apt-get install dataset-fashion-mnist' or pass the folder that holds the IDX files.", gz);
    }
}
