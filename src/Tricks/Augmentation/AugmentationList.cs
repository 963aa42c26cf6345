using System.Globalization;

namespace MLNetCnn.Tricks.Augmentation;

/// <summary>
/// The short text form of <see cref="AugmentationOptions"/> that the command-line tools take (<c>--augment</c>):
/// <c>none</c>, <c>bag-of-tricks</c>, or a comma-separated list of <c>flip</c>, <c>crop</c>, <c>shift</c> and
/// <c>erase</c>, each with an optional <c>=value</c>:
/// <list type="table">
/// <item><term><c>flip[=p]</c></term><description>mirror left to right with probability p (default 0.5)</description></item>
/// <item><term><c>crop[=a]</c></term><description>a random crop of a to 100 % of the area (default 0.7), resized back</description></item>
/// <item><term><c>shift[=n]</c></term><description>a whole-pixel shift of up to n pixels across and down, black fill (default 2)</description></item>
/// <item><term><c>erase[=p]</c></term><description>random erasing of a box of 2-40 % of the image with probability p (default 0.5)</description></item>
/// </list>
/// <c>flip-crop</c> stands for <c>flip,crop</c>. Names are case-insensitive; an item may appear once.
/// </summary>
public static class AugmentationList
{
    /// <summary>What <see cref="Parse"/> accepts, in one line, for help texts and error messages.</summary>
    public const string Syntax = "none, bag-of-tricks, or a comma-separated list of flip[=p], crop[=min area], shift[=pixels] and erase[=p] (flip-crop is flip,crop)";

    /// <summary>Parses <paramref name="text"/>; <c>none</c> gives <see cref="AugmentationOptions.None"/>. The result is validated.</summary>
    /// <exception cref="FormatException">An unknown or repeated name, or a value that is not a number in range; the message quotes it.</exception>
    public static AugmentationOptions Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        if (trimmed.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            return AugmentationOptions.None;
        }

        if (trimmed.Equals("bag-of-tricks", StringComparison.OrdinalIgnoreCase))
        {
            return AugmentationOptions.BagOfTricks;
        }

        var options = new AugmentationOptions();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string raw in trimmed.Split(','))
        {
            string item = raw.Trim().ToLowerInvariant();
            foreach (string single in item == "flip-crop" ? ["flip", "crop"] : new[] { item })
            {
                int equals = single.IndexOf('=', StringComparison.Ordinal);
                string name = equals < 0 ? single : single[..equals].Trim();
                string? value = equals < 0 ? null : single[(equals + 1)..].Trim();
                if (!seen.Add(name))
                {
                    throw Bad(text, $"'{name}' appears twice");
                }

                options = name switch
                {
                    "flip" => options with { HorizontalFlipProbability = Number(text, name, value, 0.5, "a probability in (0, 1]", v => v is > 0 and <= 1) },
                    "crop" => options with { RandomResizedCrop = true, MinArea = Number(text, name, value, 0.7, "a minimum area in (0, 1]", v => v is > 0 and <= 1) },
                    "shift" => options with { MaxTranslation = (int)Number(text, name, value, 2, "a whole number of pixels from 1 to 1024", v => v is >= 1 and <= 1024 && v == Math.Floor(v)) },
                    "erase" => options with { ErasingProbability = Number(text, name, value, 0.5, "a probability in (0, 1]", v => v is > 0 and <= 1) },
                    _ => throw Bad(text, $"unknown augmentation '{(name.Length == 0 ? raw : name)}'"),
                };
            }
        }

        return options.Validate();
    }

    /// <summary>
    /// The text <see cref="Parse"/> turns back into <paramref name="options"/> (<c>none</c>, <c>bag-of-tricks</c> or a list with
    /// every value written out), or null when the options use settings the list cannot express (colour jitter, a crop
    /// aspect or erasing box other than the defaults).
    /// </summary>
    public static string? Format(AugmentationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.IsIdentity)
        {
            return "none";
        }

        if (options == AugmentationOptions.BagOfTricks)
        {
            return "bag-of-tricks";
        }

        // What is left when the four list items are taken out must be the defaults (the crop's and the erased box's
        // shape settings count only while that operation is on).
        var defaults = new AugmentationOptions();
        var rest = options with { HorizontalFlipProbability = 0, RandomResizedCrop = false, MinArea = defaults.MinArea, MaxTranslation = 0, ErasingProbability = 0 };
        if (!options.RandomResizedCrop)
        {
            rest = rest with { MaxArea = defaults.MaxArea, MinAspect = defaults.MinAspect, MaxAspect = defaults.MaxAspect };
        }

        if (options.ErasingProbability == 0)
        {
            rest = rest with { ErasingMinArea = defaults.ErasingMinArea, ErasingMaxArea = defaults.ErasingMaxArea, ErasingMinAspect = defaults.ErasingMinAspect };
        }

        if (rest != defaults)
        {
            return null;
        }

        var items = new List<string>();
        var c = CultureInfo.InvariantCulture;
        if (options.HorizontalFlipProbability > 0)
        {
            items.Add(string.Create(c, $"flip={options.HorizontalFlipProbability:R}"));
        }

        if (options.RandomResizedCrop)
        {
            items.Add(string.Create(c, $"crop={options.MinArea:R}"));
        }

        if (options.MaxTranslation > 0)
        {
            items.Add(string.Create(c, $"shift={options.MaxTranslation}"));
        }

        if (options.ErasingProbability > 0)
        {
            items.Add(string.Create(c, $"erase={options.ErasingProbability:R}"));
        }

        return string.Join(',', items);
    }

    private static double Number(string text, string name, string? value, double fallback, string expected, Func<double, bool> valid)
    {
        if (value is null)
        {
            return fallback;
        }

        return double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) && double.IsFinite(number) && valid(number)
            ? number
            : throw Bad(text, $"{name} takes {expected}; found '{value}'");
    }

    private static FormatException Bad(string text, string why) => new($"Augmentation '{text}': {why}. Expected {Syntax}.");
}
