using System.Globalization;
using MLNetCnn.Architectures.Cost;
using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Cli.CommandLine;
using MLNetCnn.Estimators;
using TorchSharp;

namespace MLNetCnn.Cli.Commands;

/// <summary><c>list</c> (the registered architectures) and <c>summary</c> (one architecture's layer table).</summary>
internal static class ZooCommands
{
    public static readonly CommandSpec ListSpec = new(
        "list",
        "List the registered architectures: family, native input size, parameters and GMACs.",
        "mlnetcnn list",
        []);

    public static readonly CommandSpec SummarySpec = new(
        "summary",
        "Print an architecture's layers: output shape, parameters and multiply-accumulates per layer, and totals.",
        "mlnetcnn summary <arch> [--size N] [--classes N] [--channels N] [--width W] [--small-input-stem[=false]]",
        [
            new("size", "<N>", "Input height and width (default: the architecture's native size)."),
            new("classes", "<N>", "Output classes (default 1000)."),
            new("channels", "<N>", "Input channels (default 3)."),
            new("width", "<W>", "Channel width multiplier; it replaces the architecture's own width (default: the architecture's)."),
            new("small-input-stem", "", "Use the small-input stem (default: as 'train' does, below 64 pixels)."),
        ],
        "Example: mlnetcnn summary resnet50");

    public static int List(Arguments arguments, CommandContext context)
    {
        NoPositionals(arguments);
        var c = CultureInfo.InvariantCulture;
        var rows = ModelRegistry.All.Select(d =>
        {
            var cost = Measure(d.Name, d.Config, new ArchitectureOptions());
            return new[] { d.Name, d.Family, d.NativeInputSize.ToString(c), cost.Parameters.ToString("N0", c), (cost.Macs / 1e9).ToString("F3", c) };
        }).ToList();
        string[] header = ["name", "family", "input", "params", "GMACs"];
        int[] widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        bool[] right = [false, false, true, true, true];
        string Line(string[] cells) => string.Join("  ", cells.Select((cell, i) => right[i] ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i]))).TrimEnd();
        context.Output.WriteLine(Line(header));
        context.Output.WriteLine(Line(widths.Select(w => new string('-', w)).ToArray()));
        foreach (var row in rows)
        {
            context.Output.WriteLine(Line(row));
        }

        return 0;
    }

    public static int Summary(Arguments arguments, CommandContext context)
    {
        if (arguments.Positionals.Count != 1)
        {
            throw new UsageException($"expected one architecture name, got {arguments.Positionals.Count}. Registered: {string.Join(", ", ModelRegistry.Names)}.");
        }

        var definition = Architecture(arguments.Positionals[0]);
        int size = arguments.Int("size", definition.NativeInputSize, min: TrainSettings.MinImageSize, max: TrainSettings.MaxImageSize);
        var options = new ArchitectureOptions
        {
            InputSize = size,
            NumClasses = arguments.Int("classes", 1000, min: 2),
            InputChannels = arguments.Int("channels", 3, min: 1, max: 64),
            SmallInputStem = arguments.Has("small-input-stem") ? arguments.Flag("small-input-stem") : size < 64,
        };
        var config = arguments.Has("width") ? definition.Config with { Width = arguments.Number("width", 1.0, min: ArchitectureConfig.MinWidth, max: 16) } : definition.Config;
        var cost = Measure(definition.Name, config, options);
        context.Output.WriteLine($"{definition.Name} ({definition.Family}), input {options.InputShape(definition.NativeInputSize)}{(options.SmallInputStem ? ", small-input stem" : string.Empty)}");
        context.Output.Write(cost.ToTable());
        return 0;
    }

    /// <summary>
    /// Refuses, as <c>summary</c> does and before any data is read, a network that cannot be built at the size,
    /// channels and width of a <c>train</c> command line (the class count does not change whether it can).
    /// </summary>
    /// <remarks>
    /// Also refuses, by the library's own rule (<see cref="ModelMemory.Shortfall"/>) with this build's exact parameter count, a
    /// network whose weights, gradients and optimizer state would not fit in memory: <c>--width 16</c> makes resnet18 2.9
    /// billion parameters, 46 GB, which would end in the kernel's out-of-memory kill rather than in an error.
    /// </remarks>
    public static void CheckBuildable(ModelDefinition definition, double? width, int size, int channels)
    {
        var options = new ArchitectureOptions { InputSize = size, NumClasses = 2, InputChannels = channels, SmallInputStem = size < 64 };
        var config = width is { } w ? definition.Config with { Width = w } : definition.Config;
        var cost = Measure(definition.Name, config, options);
        if (ModelMemory.Shortfall(definition.Name, config.Width, cost.Parameters, estimated: false) is { } why)
        {
            throw new UsageException($"{why} Use a smaller --width.");
        }
    }

    /// <summary>The registered definition, or a usage error that suggests the nearest names.</summary>
    public static ModelDefinition Architecture(string name)
    {
        try
        {
            return ModelRegistry.Get(name);
        }
        catch (KeyNotFoundException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>
    /// Builds the model on libtorch's meta device, which keeps shapes but allocates and initializes nothing
    /// (the whole zoo takes about a second instead of a minute), and measures it. The default device is
    /// process-wide, which is safe here because a command runs on one thread and trains nothing meanwhile.
    /// </summary>
    private static ModelCost Measure(string name, ArchitectureConfig config, ArchitectureOptions options)
    {
        var previous = torch.get_default_device();
        torch.set_default_device(new torch.Device(DeviceType.META));
        try
        {
            using var model = config.Create(options);
            return ModelCost.Measure(model);
        }
        catch (ArgumentException e) when (e is not InputTooSmallException)
        {
            throw new UsageException($"{name} cannot be built with these options: {e.Message}");
        }
        finally
        {
            torch.set_default_device(previous);
        }
    }

    private static void NoPositionals(Arguments arguments)
    {
        if (arguments.Positionals.Count > 0)
        {
            throw new UsageException($"unexpected argument '{arguments.Positionals[0]}'.");
        }
    }
}
