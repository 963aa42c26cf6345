using System.Globalization;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Tricks.Augmentation;
using MLNetCnn.Tricks.Training;

/// <summary>QuickStart's command line, read and checked in full before anything is loaded.</summary>
internal sealed record QuickStartOptions
{
    public const string Usage = """
        Usage: dotnet run --project examples/QuickStart -- [--name value]...
          --data embedded|full|auto|<folder with the IDX files>   (default embedded)
          --epochs N (default 4)   --batch N (default 64)   --lr X (default 0.05)   --seed N (default 1)
          --arch NAME (default resnet18)   --width W (default 0.25)   --out DIR (default quickstart-output)
          --augment none|LIST (flip[=p], crop[=min area], shift[=pixels], erase[=p], comma-separated; default none)
          --label-smoothing E (default 0)   --test-time-flip on|off (default off)
          --time-limit T (90s, 29m, 1h30m: train about that long, --epochs at most; default none)
        """;

    private static readonly string[] Names = ["data", "epochs", "batch", "lr", "seed", "arch", "width", "out", "augment", "label-smoothing", "test-time-flip", "time-limit"];

    public string Data { get; private init; } = "embedded";

    public int Epochs { get; private init; } = 4;

    public int BatchSize { get; private init; } = 64;

    public double LearningRate { get; private init; } = 0.05;

    public int Seed { get; private init; } = 1;

    public string Arch { get; private init; } = "resnet18";

    public double Width { get; private init; } = 0.25;

    public string OutputDirectory { get; private init; } = "quickstart-output";

    public AugmentationOptions? Augmentation { get; private init; }

    public double LabelSmoothing { get; private init; }

    public bool TestTimeFlip { get; private init; }

    public TimeSpan? TimeLimit { get; private init; }

    /// <summary>Reads <c>--name value</c> pairs; <see cref="ArgumentException"/> names the option and what it expects.</summary>
    public static QuickStartOptions Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Count; i += 2)
        {
            string name = args[i].StartsWith("--", StringComparison.Ordinal) ? args[i][2..] : throw new ArgumentException($"expected an option such as --epochs; found '{args[i]}'.");
            if (!Names.Contains(name))
            {
                throw new ArgumentException($"unknown option '--{name}'; options are {string.Join(", ", Names.Select(n => "--" + n))}.");
            }

            if (i + 1 >= args.Count)
            {
                throw new ArgumentException($"--{name} needs a value.");
            }

            if (!values.TryAdd(name, args[i + 1]))
            {
                throw new ArgumentException($"--{name} is given twice.");
            }
        }

        var defaults = new QuickStartOptions();
        return new QuickStartOptions
        {
            Data = values.GetValueOrDefault("data", defaults.Data),
            Epochs = Whole(values, "epochs", defaults.Epochs, 1, 100_000),
            BatchSize = Whole(values, "batch", defaults.BatchSize, 1, 65_536),
            LearningRate = Number(values, "lr", defaults.LearningRate, "above 0 and at most 100", x => x is > 0 and <= 100),
            Seed = Whole(values, "seed", defaults.Seed, 0, int.MaxValue),
            Arch = values.GetValueOrDefault("arch", defaults.Arch),
            Width = Number(values, "width", defaults.Width, FormattableString.Invariant($"from {ArchitectureConfig.MinWidth} to 16"), x => x is >= ArchitectureConfig.MinWidth and <= 16),
            OutputDirectory = values.GetValueOrDefault("out", defaults.OutputDirectory),
            Augmentation = values.TryGetValue("augment", out string? augment) ? ParseAugmentation(augment) : null,
            LabelSmoothing = Number(values, "label-smoothing", 0, "from 0 to below 1", x => x is >= 0 and < 1),
            TestTimeFlip = values.GetValueOrDefault("test-time-flip", "off") switch
            {
                "on" => true,
                "off" => false,
                var other => throw new ArgumentException($"--test-time-flip takes on or off; found '{other}'."),
            },
            TimeLimit = values.TryGetValue("time-limit", out string? limit) ? ParseTimeLimit(limit) : null,
        };
    }

    private static AugmentationOptions? ParseAugmentation(string text)
    {
        try
        {
            return AugmentationList.Parse(text) is { IsIdentity: false } options ? options : null;
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"--augment: {e.Message}", e);
        }
    }

    private static TimeSpan ParseTimeLimit(string text)
    {
        try
        {
            return DurationText.Parse(text);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"--time-limit: {e.Message}", e);
        }
    }

    private static int Whole(Dictionary<string, string> values, string name, int fallback, int min, int max) =>
        !values.TryGetValue(name, out string? text) ? fallback
        : int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max ? value
        : throw new ArgumentException($"--{name} takes a whole number from {min} to {max}; found '{text}'.");

    private static double Number(Dictionary<string, string> values, string name, double fallback, string range, Func<double, bool> valid) =>
        !values.TryGetValue(name, out string? text) ? fallback
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value) && valid(value) ? value
        : throw new ArgumentException($"--{name} takes a number {range}; found '{text}'.");
}
