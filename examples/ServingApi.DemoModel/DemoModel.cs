using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;
using SkiaSharp;

namespace MLNetCnn.Examples.ServingApi;

/// <summary>Trains a small model on the embedded Fashion-MNIST subset, as PNG bytes, for the service to serve.</summary>
public static class DemoModel
{
    /// <summary>Trains and saves to <paramref name="path"/>; returns a few test images as PNG bytes with their class names.</summary>
    public static IReadOnlyList<(byte[] Png, string Label)> Train(string path, int epochs, Action<string>? log = null, int perClass = 100)
    {
        var mlContext = new MLContext(seed: 1);
        var train = PngRows(mlContext, FashionMnistSplit.Train, perClass);
        var data = mlContext.Data.LoadFromEnumerable(train);
        data = mlContext.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
        var trainer = mlContext.Cnn().ImageClassification(new ImageClassificationTrainer.Options
        {
            FeatureColumnName = nameof(PngRow.ImageBytes),
            ImageShape = new ImageShape(1, 28, 28),
            Arch = "resnet18",
            WidthMultiplier = 0.25,
            Epoch = epochs,
            BatchSize = 32,
            MetricsCallback = m => log?.Invoke(m.ToString()),
        });
        using var model = trainer.Fit(mlContext.Data.Cache(data));
        mlContext.Model.Save(model, data.Schema, path);
        log?.Invoke($"saved {path}");
        return PngRows(mlContext, FashionMnistSplit.Test, 5).Select(r => (r.ImageBytes, r.Label)).ToList();
    }

    private static List<PngRow> PngRows(MLContext mlContext, FashionMnistSplit split, int perClass)
    {
        var view = FashionMnist.Load(mlContext, split, FashionMnistSource.Embedded);
        var rows = new List<PngRow>();
        var counts = new int[FashionMnist.ClassNames.Count];
        var features = view.GetColumn<float[]>("Features").ToList();
        var labels = view.GetColumn<uint>("Label").ToList();
        for (int i = 0; i < features.Count; i++)
        {
            int label = (int)labels[i] - 1;
            if (counts[label]++ >= perClass)
            {
                continue;
            }

            using var bitmap = new SKBitmap(new SKImageInfo(28, 28, SKColorType.Gray8));
            for (int p = 0; p < 784; p++)
            {
                bitmap.SetPixel(p % 28, p / 28, new SKColor((byte)features[i][p], (byte)features[i][p], (byte)features[i][p]));
            }

            using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            rows.Add(new PngRow { ImageBytes = png.ToArray(), Label = FashionMnist.ClassNames[label] });
        }

        return rows;
    }

    private sealed class PngRow
    {
        [VectorType]
        public byte[] ImageBytes { get; set; } = [];

        public string Label { get; set; } = string.Empty;
    }
}
