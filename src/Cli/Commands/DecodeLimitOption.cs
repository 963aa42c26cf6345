using System.Globalization;
using MLNetCnn.Cli.CommandLine;
using MLNetCnn.Serving;

namespace MLNetCnn.Cli.Commands;

/// <summary>
/// <c>--max-image-pixels</c> of <c>train</c>, <c>predict</c> and <c>evaluate</c>: the decode limit for one run. Found by an
/// outside sweep: a 48-megapixel photo, or a 24-megapixel progressive JPEG, was skipped with a message naming
/// <c>ImageDecodeLimit.Current</c>, which a user of the tool had no way to set.
/// </summary>
internal static class DecodeLimitOption
{
    public const string Name = "max-image-pixels";

    public static readonly OptionSpec Spec = new(
        Name,
        "<N>",
        string.Create(CultureInfo.InvariantCulture, $"Largest image decoded, in pixels (default {ImageDecodeLimit.DefaultMaxPixels:N0}; a progressive JPEG or an interlaced PNG counts more, as its decoder holds more); larger files are skipped and reported. An image at the limit takes about 8 bytes a pixel while it decodes."));

    /// <summary>The text every message about an image over the limit holds (<see cref="ImageTooLargeException"/>'s).</summary>
    private const string OverTheLimit = ": over the decode limit of ";

    /// <summary>Sets <see cref="ImageDecodeLimit.Current"/> for one command when the option is given; disposing restores the limit before it.</summary>
    public static IDisposable Apply(CommandSpec command, Arguments arguments)
    {
        var earlier = ImageDecodeLimit.Current;
        if (command.Options.Contains(Spec) && arguments.Has(Name))
        {
            ImageDecodeLimit.Current = earlier with { MaxPixels = arguments.Int(Name, 0, min: 1, max: (int)ImageDecodeLimit.LargestPossible) };
        }

        return new Restore(earlier);
    }

    /// <summary>Whether a skipped image's message is about the decode limit.</summary>
    public static bool IsOverTheLimit(string message) => message.Contains(OverTheLimit, StringComparison.Ordinal);

    /// <summary>The line saying how to read the images that were skipped for being over the limit; null when none was.</summary>
    public static string? Hint(int overTheLimit) => overTheLimit == 0 ? null
        : string.Create(CultureInfo.InvariantCulture, $"{overTheLimit} {(overTheLimit == 1 ? "image was" : "images were")} skipped for being over the decode limit of {ImageDecodeLimit.Current.MaxPixels:N0} pixels; give --{Name} with a larger number to read {(overTheLimit == 1 ? "it" : "them")}.");

    private sealed class Restore(ImageDecodeLimit earlier) : IDisposable
    {
        public void Dispose() => ImageDecodeLimit.Current = earlier;
    }
}
