using System.Globalization;
using System.Text.RegularExpressions;

namespace MLNetCnn.Tricks.Training;

/// <summary>Reads a duration as command lines write it (<c>90s</c>, <c>29m</c>, <c>1h30m</c>, <c>1.5h</c>), for <see cref="TrainerOptions.TimeLimit"/>.</summary>
public static partial class DurationText
{
    /// <summary>How a duration is written, for usage texts.</summary>
    public const string Syntax = "a number with a unit, h, m or s, or several (90s, 29m, 1h30m, 1.5h)";

    /// <summary>Reads <paramref name="text"/>.</summary>
    /// <exception cref="FormatException">Not a duration as <see cref="Syntax"/> says, or not above zero; the message quotes the text.</exception>
    public static TimeSpan Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        var match = Pattern().Match(trimmed);
        if (!match.Success || trimmed.Length == 0)
        {
            throw new FormatException($"'{text}' is not a duration: write {Syntax}.");
        }

        double seconds = Part(match, "h") * 3600 + Part(match, "m") * 60 + Part(match, "s");
        if (!(seconds > 0) || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            throw new FormatException($"'{text}' is not a duration above zero (and below a few thousand years).");
        }

        return TimeSpan.FromSeconds(seconds);
    }

    private static double Part(Match match, string unit) =>
        match.Groups[unit].Success ? double.Parse(match.Groups[unit].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture) : 0;

    [GeneratedRegex(@"^(?:(?<h>\d+(?:\.\d+)?)h)?(?:(?<m>\d+(?:\.\d+)?)m)?(?:(?<s>\d+(?:\.\d+)?)s)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
