// Serving speed, side by side in one run (issue 5):
//
//   dotnet run -c Release --project benchmarks/MLNetCnn.Benchmarks -- serving [--model resnet18] [--width 0.25] [--size 28] [--images 2000] [--repeats 3]
//   (sizes other than 28 use 3 channels)
//
// One model (random weights: speed does not depend on them), exported once to ONNX. Batch scoring of
// the same images through (1) the ML.NET serving chain that model.zip holds (ApplyOnnxModel + arg-max
// + key mapping, read through a cursor), (2) raw ONNX Runtime on the same ONNX bytes (OrtValues over
// reused buffers), one image per Run and 64 per Run, with the default and a one-thread session, (3) TorchSharp eval of the same TorchSharp model, 64 per forward; then
// single-image PredictionEngine latency (p50, p99). Rounds alternate the paths so machine-load drift
// hits all of them; medians are reported.
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using MLNetCnn.Architectures.Layers;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Onnx;
using MLNetCnn.Estimators.Data;
using MLNetCnn.Serving;
using static TorchSharp.torch;

internal static class ServingBenchmarks
{
    public static int Run(IReadOnlyDictionary<string, string> options)
    {
        string arch = options.GetValueOrDefault("model", "resnet18");
        double width = double.Parse(options.GetValueOrDefault("width", "0.25"), CultureInfo.InvariantCulture);
        int size = int.Parse(options.GetValueOrDefault("size", "28"), CultureInfo.InvariantCulture);
        int count = int.Parse(options.GetValueOrDefault("images", "2000"), CultureInfo.InvariantCulture);
        int repeats = int.Parse(options.GetValueOrDefault("repeats", "3"), CultureInfo.InvariantCulture);
        const int batch = 64;
        var shape = new ImageShape(size == 28 ? 1 : 3, size, size);
        int pixels = shape.Size;

        manual_seed(1);
        using var model = new NormalizedClassifier(
            (ModelRegistry.Get(arch).Config with { Width = width }).Create(new ArchitectureOptions { NumClasses = 10, InputChannels = shape.Channels, InputSize = size, SmallInputStem = size < 64 }),
            new InputNormalization(Enumerable.Repeat(120f, shape.Channels).ToArray(), Enumerable.Repeat(60f, shape.Channels).ToArray()));
        model.eval();
        byte[] onnx = OnnxExporter.Export(model, new OnnxExportOptions { InputName = "Features", OutputName = ServingPipeline.ScoreColumnName });

        var random = new Random(3);
        var images = Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, pixels).Select(_ => (float)random.Next(256)).ToArray()).ToArray();
        var ml = new MLContext(seed: 1);
        var schema = SchemaDefinition.Create(typeof(ImageRow));
        schema[nameof(ImageRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, pixels);
        var data = ml.Data.LoadFromEnumerable(images.Select(p => new ImageRow { Features = p }), schema);
        var classNames = Enumerable.Range(0, 10).Select(i => $"class{i}").ToList();
        using var serving = ServingPipeline.Build(ml, onnx, "Features", classNames, label: null, data, gpuDeviceId: null, fallbackToCpu: false);
        var chain = serving.Chain;
        using var session = new InferenceSession(onnx);
        using var singleThreadOptions = new SessionOptions { IntraOpNumThreads = 1 };
        using var singleThread = new InferenceSession(onnx, singleThreadOptions);
        Console.WriteLine($"serving: {arch} x{width} at {shape}, {count} images, {Environment.ProcessorCount} cores, torch threads {get_num_threads()}, ONEDNN_MAX_CPU_ISA={Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA")}");

        var results = new Dictionary<string, List<double>>();
        var paths = new (string Name, Func<double> Time)[]
        {
            ("ML.NET chain (Transform + cursor)", () => TimeMlNet(chain, data, count)),
            ("raw ONNX Runtime, 1 image per Run", () => TimeOrt(session, images, pixels, 1)),
            ($"raw ONNX Runtime, {batch} images per Run", () => TimeOrt(session, images, pixels, batch)),
            ("raw ONNX Runtime 1 thread, 1 image per Run", () => TimeOrt(singleThread, images, pixels, 1)),
            ($"raw ONNX Runtime 1 thread, {batch} images per Run", () => TimeOrt(singleThread, images, pixels, batch)),
            ($"TorchSharp eval, {batch} images per forward", () => TimeTorch(model, images, shape, batch)),
        };
        foreach (var (_, time) in paths)
        {
            time(); // warm-up: lazy initialisation, JIT, allocator
        }

        for (int r = 0; r < repeats; r++)
        {
            foreach (var (name, time) in paths)
            {
                double rate = time();
                (results.TryGetValue(name, out var list) ? list : results[name] = new List<double>()).Add(rate);
                Console.WriteLine(FormattableString.Invariant($"  round {r + 1}: {name}: {rate:F0} img/s"));
            }
        }

        foreach (var (name, _) in paths)
        {
            Console.WriteLine(FormattableString.Invariant($"median {name}: {Stats.Median(results[name]):F0} img/s"));
        }

        double mlnet = Stats.Median(results[paths[0].Name]), ort1 = Stats.Median(results[paths[1].Name]), ortBatch = Stats.Median(results[paths[2].Name]), torch = Stats.Median(results[paths[^1].Name]);
        Console.WriteLine(FormattableString.Invariant($"ML.NET / raw ORT (1 per Run) = {mlnet / ort1:F3}; ML.NET / raw ORT ({batch} per Run) = {mlnet / ortBatch:F3}; raw ORT ({batch}) / TorchSharp eval ({batch}) = {ortBatch / torch:F3}"));

        // Single-image latency through a PredictionEngine (what a web request pays).
        var engine = ml.Model.CreatePredictionEngine<ImageRow, ScoreRow>(chain, inputSchemaDefinition: schema);
        var latencies = new List<double>();
        for (int i = 0; i < Math.Min(count, 1000) + 50; i++)
        {
            var clock = Stopwatch.StartNew();
            engine.Predict(new ImageRow { Features = images[i % count] });
            if (i >= 50)
            {
                latencies.Add(clock.Elapsed.TotalMilliseconds);
            }
        }

        latencies.Sort();
        Console.WriteLine(FormattableString.Invariant($"PredictionEngine single image: p50 {latencies[latencies.Count / 2]:F3} ms, p99 {latencies[(int)(latencies.Count * 0.99)]:F3} ms over {latencies.Count} calls"));
        return 0;
    }

    private static double TimeMlNet(ITransformer chain, IDataView data, int count)
    {
        var clock = Stopwatch.StartNew();
        var scored = chain.Transform(data);
        int rows = 0;
        using (var cursor = scored.GetRowCursor(scored.Schema.Where(c => c.Name is "Score" or "PredictedLabel")))
        {
            var score = cursor.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
            var label = cursor.GetGetter<uint>(scored.Schema["PredictedLabel"]);
            VBuffer<float> s = default;
            uint l = 0;
            while (cursor.MoveNext())
            {
                score(ref s);
                label(ref l);
                rows++;
            }
        }

        if (rows != count)
        {
            throw new InvalidOperationException($"scored {rows} rows, expected {count}");
        }

        return count / clock.Elapsed.TotalSeconds;
    }

    private static double TimeOrt(InferenceSession session, float[][] images, int pixels, int batch)
    {
        // ONNX Runtime's allocation-free API: OrtValues over pinned managed buffers, reused across Runs.
        var clock = Stopwatch.StartNew();
        var input = new float[batch * pixels];
        var output = new float[batch * 10];
        using var runOptions = new RunOptions();
        string[] inputNames = ["Features"], outputNames = [ServingPipeline.ScoreColumnName];
        for (int start = 0; start < images.Length; start += batch)
        {
            int n = Math.Min(batch, images.Length - start);
            for (int i = 0; i < n; i++)
            {
                images[start + i].CopyTo(input, i * pixels);
            }

            using var x = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input.AsMemory(0, n * pixels), new long[] { n, pixels });
            using var y = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, output.AsMemory(0, n * 10), new long[] { n, 10 });
            session.Run(runOptions, inputNames, [x], outputNames, [y]);
        }

        return images.Length / clock.Elapsed.TotalSeconds;
    }

    private static double TimeTorch(NormalizedClassifier model, float[][] images, ImageShape shape, int batch)
    {
        var clock = Stopwatch.StartNew();
        using var noGrad = no_grad();
        for (int start = 0; start < images.Length; start += batch)
        {
            using var scope = NewDisposeScope();
            int n = Math.Min(batch, images.Length - start);
            var flat = new float[n * shape.Size];
            for (int i = 0; i < n; i++)
            {
                images[start + i].CopyTo(flat, i * shape.Size);
            }

            var probabilities = nn.functional.softmax(model.forward(tensor(flat).reshape(n, shape.Channels, shape.Height, shape.Width)), 1);
            _ = probabilities[0, 0].item<float>();
        }

        return images.Length / clock.Elapsed.TotalSeconds;
    }

    private sealed class ImageRow
    {
        public float[] Features { get; set; } = [];
    }

    private sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
    }
}
