// What a test-time flip would add to a model that is already trained, without training it again.
//
//   dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- test-time-flip --model quickstart-output/model.zip [--data full]
//
// Scores the Fashion-MNIST test set (--data: full, embedded or auto) through the saved model.zip as it is and
// mirrored left to right, and reports the accuracy of each and of the mean of the two probability vectors: what
// the estimator's TestTimeFlip computes inside the served graph (TestTimeFlipTests checks that it is this mean).
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;

internal static class TestTimeFlipBenchmark
{
    public static int Run(IReadOnlyDictionary<string, string> options)
    {
        string path = options.TryGetValue("model", out var m) ? m : throw new ArgumentException("test-time-flip needs --model PATH (a saved model.zip of 28 x 28 grey images).");
        var source = Enum.Parse<FashionMnistSource>(options.GetValueOrDefault("data", "full"), ignoreCase: true);
        var ml = new MLContext();
        var rows = ml.Data.CreateEnumerable<Row>(FashionMnist.Load(ml, FashionMnistSplit.Test, source), reuseRowObject: false).ToList();
        var mirrored = rows.Select(r => new Row { Label = r.Label, Features = Mirror(r.Features) }).ToList();
        var model = ml.CnnServing().LoadModel(path, out _);
        try
        {
            float[][] Scores(List<Row> data) => model.Transform(ml.Data.LoadFromEnumerable(data)).GetColumn<float[]>("Score").ToArray();
            var plain = Scores(rows);
            var mirror = Scores(mirrored);
            double Accuracy(Func<int, int, float> score) =>
                100.0 * rows.Where((r, i) => Enumerable.Range(0, 10).MaxBy(k => score(i, k)) == (int)r.Label - 1).Count() / rows.Count;
            Console.WriteLine(FormattableString.Invariant(
                $"{path}, {rows.Count} test images ({source}): as they are {Accuracy((i, k) => plain[i][k]):F2} %, mirrored {Accuracy((i, k) => mirror[i][k]):F2} %, test-time flip (mean of both) {Accuracy((i, k) => plain[i][k] + mirror[i][k]):F2} %"));
            return 0;
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    private static float[] Mirror(float[] image)
    {
        var mirror = new float[image.Length];
        for (int row = 0; row < 28; row++)
        {
            for (int column = 0; column < 28; column++)
            {
                mirror[(row * 28) + column] = image[(row * 28) + 27 - column];
            }
        }

        return mirror;
    }
}
