using System.Globalization;
using System.Text;

namespace MLNetCnn.Cli.CommandLine;

/// <summary>A bad command line: the message names the argument and what was expected (exit code 2).</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>One <c>--name value</c> option (or a <c>--name</c> flag when <see cref="Value"/> is empty).</summary>
internal sealed record OptionSpec(string Name, string Value, string Help)
{
    public bool IsFlag => Value.Length == 0;
}

/// <summary>A command: its name, one-line summary, usage line, options and any closing notes for its help.</summary>
internal sealed record CommandSpec(string Name, string Summary, string Usage, IReadOnlyList<OptionSpec> Options, string Notes = "")
{
    public string Help()
    {
        var text = new StringBuilder();
        text.AppendLine(Summary).AppendLine().AppendLine("Usage: " + Usage);
        if (Options.Count > 0)
        {
            text.AppendLine().AppendLine("Options:");
            int width = Options.Max(o => Label(o).Length) + 2;
            foreach (var option in Options)
            {
                text.Append("  ").Append(Label(option).PadRight(width)).AppendLine(option.Help);
            }
        }

        if (Notes.Length > 0)
        {
            text.AppendLine().AppendLine(Notes);
        }

        return text.ToString();
    }

    private static string Label(OptionSpec option) => option.IsFlag ? "--" + option.Name : $"--{option.Name} {option.Value}";
}

/// <summary>
/// A parsed command line: <c>--name value</c>, <c>--name=value</c>, flags, and positional arguments
/// (everything after <c>--</c> is positional). Typed getters turn a bad value into a
/// <see cref="UsageException"/> that names the option and says what it expects.
/// </summary>
internal sealed class Arguments
{
    private readonly CommandSpec _command;
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly List<string> _positionals = [];

    private Arguments(CommandSpec command) => _command = command;

    public IReadOnlyList<string> Positionals => _positionals;

    public static Arguments Parse(CommandSpec command, IReadOnlyList<string> args)
    {
        var parsed = new Arguments(command);
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg == "--")
            {
                parsed._positionals.AddRange(args.Skip(i + 1));
                break;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                parsed._positionals.Add(arg);
                continue;
            }

            int equals = arg.IndexOf('=', StringComparison.Ordinal);
            string name = equals < 0 ? arg[2..] : arg[2..equals];
            var option = command.Options.FirstOrDefault(o => o.Name == name)
                ?? throw new UsageException($"'{command.Name}' has no option '--{name}'. Options: {string.Join(", ", command.Options.Select(o => "--" + o.Name))}.");
            if (parsed._values.ContainsKey(name))
            {
                throw new UsageException($"--{name} is given twice.");
            }

            if (option.IsFlag)
            {
                parsed._values[name] = equals < 0 ? "true" : arg[(equals + 1)..];
            }
            else if (equals >= 0)
            {
                parsed._values[name] = arg[(equals + 1)..];
            }
            else if (i + 1 < args.Count)
            {
                parsed._values[name] = args[++i];
            }
            else
            {
                throw new UsageException($"--{name} needs a value: {option.Value}.");
            }
        }

        return parsed;
    }

    public bool Has(string name) => _values.ContainsKey(Known(name));

    public string? Text(string name) => _values.GetValueOrDefault(Known(name));

    public string Required(string name) =>
        Text(name) is { Length: > 0 } value ? value : throw new UsageException($"--{name} is required: {_command.Options.First(o => o.Name == name).Help}");

    public bool Flag(string name) => Text(name) switch
    {
        null => false,
        "true" => true,
        "false" => false,
        var other => throw new UsageException($"--{name} is a switch (true or false); got '{other}'."),
    };

    public int Int(string name, int fallback, int min, int max = int.MaxValue)
    {
        if (Text(name) is not { } text)
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max
            ? value
            : throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--{name} expects a whole number {Range(min, max)}; got '{text}'."));
    }

    /// <summary>A number in [min, max], or in (min, max] when <paramref name="minExclusive"/>.</summary>
    public double Number(string name, double fallback, double min, double max, bool minExclusive = false)
    {
        if (Text(name) is not { } text)
        {
            return fallback;
        }

        bool ok = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value)
            && (minExclusive ? value > min : value >= min) && value <= max;
        string lower = minExclusive ? $"above {min}" : $"from {min}";
        return ok ? value : throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--{name} expects a number {lower} to {max}; got '{text}'."));
    }

    public string Choice(string name, string fallback, params string[] choices)
    {
        string value = Text(name) ?? fallback;
        return choices.Contains(value, StringComparer.OrdinalIgnoreCase)
            ? value.ToLowerInvariant()
            : throw new UsageException($"--{name} expects one of {string.Join(", ", choices)}; got '{value}'.");
    }

    private static string Range(int min, int max) => max == int.MaxValue
        ? string.Create(CultureInfo.InvariantCulture, $">= {min}")
        : string.Create(CultureInfo.InvariantCulture, $"from {min} to {max}");

    private string Known(string name) =>
        _command.Options.Any(o => o.Name == name) ? name : throw new InvalidOperationException($"'{_command.Name}' declares no option '--{name}'.");
}
