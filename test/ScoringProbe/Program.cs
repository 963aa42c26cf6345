// Usage: ScoringProbe <model.zip> <feature-size>     scores one row of pixels i % 255 in a float column "Features"
//        ScoringProbe <model.zip> <image file>...     scores encoded images in a byte column "ImageBytes"
// Prints "score=<comma-separated probabilities>" per row and "libtorch-loaded=<true|false>".
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Serving;

var mlContext = new MLContext();
var model = mlContext.CnnServing().LoadModel(args[0], out _);
IDataView data;
if (int.TryParse(args[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int size))
{
    var schema = SchemaDefinition.Create(typeof(PixelRow));
    schema[nameof(PixelRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
    var pixels = Enumerable.Range(0, size).Select(i => (float)(i % 255)).ToArray();
    data = mlContext.Data.LoadFromEnumerable(new[] { new PixelRow { Features = pixels } }, schema);
}
else
{
    data = mlContext.Data.LoadFromEnumerable(args.Skip(1).Select(f => new BytesRow { ImageBytes = File.ReadAllBytes(f) }));
}

foreach (var scores in model.Transform(data).GetColumn<float[]>("Score"))
{
    Console.WriteLine("score=" + string.Join(",", scores.Select(s => s.ToString("R", CultureInfo.InvariantCulture))));
}

bool loaded = File.ReadAllText("/proc/self/maps").Contains("libtorch", StringComparison.Ordinal);
Console.WriteLine("libtorch-loaded=" + (loaded ? "true" : "false"));
Console.WriteLine("estimators-loaded=" + (AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "MLNetCnn.Estimators") ? "true" : "false"));

internal sealed class PixelRow
{
    public float[] Features { get; set; } = Array.Empty<float>();
}

internal sealed class BytesRow
{
    [VectorType]
    public byte[] ImageBytes { get; set; } = Array.Empty<byte>();
}
