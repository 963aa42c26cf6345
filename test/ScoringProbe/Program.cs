// Usage: ScoringProbe <model.zip> <feature-size>
// Prints "score=<comma-separated probabilities>" and "libtorch-loaded=<true|false>".
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Estimators;

var mlContext = new MLContext();
var model = mlContext.Cnn().LoadModel(args[0], out _);
int size = int.Parse(args[1], CultureInfo.InvariantCulture);
var schema = SchemaDefinition.Create(typeof(Row));
schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
var pixels = Enumerable.Range(0, size).Select(i => (float)(i % 255)).ToArray();
var data = mlContext.Data.LoadFromEnumerable(new[] { new Row { Features = pixels } }, schema);
var scores = model.Transform(data).GetColumn<float[]>("Score").Single();
Console.WriteLine("score=" + string.Join(",", scores.Select(s => s.ToString("R", CultureInfo.InvariantCulture))));
bool loaded = File.ReadAllText("/proc/self/maps").Contains("libtorch", StringComparison.Ordinal);
Console.WriteLine("libtorch-loaded=" + (loaded ? "true" : "false"));

internal sealed class Row
{
    public float[] Features { get; set; } = Array.Empty<float>();
}
