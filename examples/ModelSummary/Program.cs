// Prints an architecture's layer table (layer, output shape, params, MACs, totals), or the whole zoo
// as a Markdown table computed from the registry (the zoo table in docs/architectures.md is this command's output).
//
//   dotnet run --project examples/ModelSummary -- resnet50 [--size 224] [--classes 1000] [--channels 3] [--small-input-stem]
//   dotnet run --project examples/ModelSummary -- --zoo
using System.Globalization;
using MLNetCnn.Architectures.Cost;
using MLNetCnn.Architectures.Models;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: ModelSummary <name> [--size N] [--classes N] [--channels N] [--small-input-stem] | --zoo");
    Console.Error.WriteLine("registered: " + string.Join(", ", ModelRegistry.Names));
    return 2;
}

if (args[0] == "--zoo")
{
    Console.WriteLine("| name | family | input | params | GMACs | reference params / GMACs |");
    Console.WriteLine("|---|---|---|---|---|---|");
    foreach (var definition in ModelRegistry.All)
    {
        using var model = definition.Create();
        var cost = ModelCost.Measure(model);
        string reference = definition.Reference is { } r ? string.Create(CultureInfo.InvariantCulture, $"{r.Parameters:N0} / {r.GigaMacs} ({r.Source})") : "-";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {definition.Name} | {definition.Family} | {definition.NativeInputSize} | {cost.Parameters:N0} | {cost.Macs / 1e9:F3} | {reference} |"));
    }

    return 0;
}

int Option(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

var definitionToShow = ModelRegistry.Get(args[0]);
using var shown = definitionToShow.Create(new ArchitectureOptions
{
    InputSize = Option("--size", definitionToShow.NativeInputSize),
    NumClasses = Option("--classes", 1000),
    InputChannels = Option("--channels", 3),
    SmallInputStem = args.Contains("--small-input-stem"),
});
Console.WriteLine($"{definitionToShow.Name} ({definitionToShow.Family}), input {shown.InputShape}");
Console.Write(ModelCost.Measure(shown).ToTable());
return 0;
