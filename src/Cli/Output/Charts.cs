using System.Globalization;
using System.Text;
using SkiaSharp;

namespace MLNetCnn.Cli.Output;

/// <summary>One line of a <see cref="Charts.Line"/> plot: a value per epoch (null or NaN where there is none).</summary>
internal sealed record Series(string Name, IReadOnlyList<double?> Values, SKColor Colour);

/// <summary>The report's PNG pictures, drawn with SkiaSharp (ML.NET's image library).</summary>
internal static class Charts
{
    private const float TextSize = 14;
    private static readonly Lazy<SKTypeface> Typeface = new(FindTypeface);

    public static readonly SKColor Blue = new(31, 119, 180);
    public static readonly SKColor Orange = new(255, 127, 14);

    /// <summary>A line plot over epochs 1..n with axes, tick labels, a legend and a title.</summary>
    /// <param name="path">PNG file to write.</param>
    /// <param name="title">Title above the plot.</param>
    /// <param name="yTitle">Name of the y axis.</param>
    /// <param name="series">The lines; every series has one value per epoch.</param>
    /// <param name="percent">Label the y axis in percent (values are fractions).</param>
    public static void Line(string path, string title, string yTitle, IReadOnlyList<Series> series, bool percent)
    {
        const int width = 800, height = 480;
        var plot = new SKRect(80, 64, width - 30, height - 60);
        int epochs = series.Max(s => s.Values.Count);
        var values = series.SelectMany(s => s.Values).OfType<double>().Where(double.IsFinite).ToList();
        var yTicks = Ticks(values.Count == 0 ? 0 : values.Min(), values.Count == 0 ? 1 : values.Max());
        double[] xTicks = epochs < 2 ? [0, 1, 2] : Ticks(1, epochs, integers: true);
        double xMin = epochs < 2 ? 0 : 1, xMax = epochs < 2 ? 2 : epochs;
        float X(double epoch) => plot.Left + (float)((epoch - xMin) / (xMax - xMin)) * plot.Width;
        float Y(double value) => plot.Bottom - (float)((value - yTicks[0]) / (yTicks[^1] - yTicks[0])) * plot.Height;

        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var grid = Stroke(new SKColor(225, 225, 225), 1);
        using var axis = Stroke(SKColors.Black, 1.5f);
        using var text = Text(TextSize, SKTextAlign.Right);
        foreach (double tick in yTicks)
        {
            canvas.DrawLine(plot.Left, Y(tick), plot.Right, Y(tick), grid);
            string label = percent ? (tick * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%" : tick.ToString("0.###", CultureInfo.InvariantCulture);
            canvas.DrawText(label, plot.Left - 8, Y(tick) + (TextSize / 3), text);
        }

        text.TextAlign = SKTextAlign.Center;
        foreach (double tick in xTicks.Where(t => t >= 1 && t <= Math.Max(1, epochs)))
        {
            canvas.DrawLine(X(tick), plot.Top, X(tick), plot.Bottom, grid);
            canvas.DrawText(tick.ToString("0", CultureInfo.InvariantCulture), X(tick), plot.Bottom + TextSize + 6, text);
        }

        canvas.DrawLine(plot.Left, plot.Bottom, plot.Right, plot.Bottom, axis);
        canvas.DrawLine(plot.Left, plot.Top, plot.Left, plot.Bottom, axis);
        canvas.DrawText("epoch", plot.MidX, height - 14, text);
        Rotated(canvas, yTitle, 22, plot.MidY, text);

        foreach (var s in series)
        {
            using var line = Stroke(s.Colour, 2.5f);
            using var dot = Fill(s.Colour);
            SKPoint? previous = null;
            for (int i = 0; i < s.Values.Count; i++)
            {
                if (s.Values[i] is not { } v || !double.IsFinite(v))
                {
                    previous = null;
                    continue;
                }

                var point = new SKPoint(X(i + 1), Y(v));
                if (previous is { } p)
                {
                    canvas.DrawLine(p, point, line);
                }

                canvas.DrawCircle(point, 4, dot);
                previous = point;
            }
        }

        using var heading = Text(18, SKTextAlign.Left, bold: true);
        canvas.DrawText(title, plot.Left, 30, heading);
        Legend(canvas, series, plot.Right, 52);
        Save(surface, path);
    }

    /// <summary>Classes up to which every cell shows its count and every class its name (cells of 28 to 64 pixels).</summary>
    public const int LabelledClasses = 40;

    /// <summary>Classes up to which a confusion matrix is drawn at all: past it one pixel or less per class shows nothing a table does not.</summary>
    public const int MaxConfusionClasses = 300;

    /// <summary>Largest side of a confusion matrix's grid, in pixels, past <see cref="LabelledClasses"/>.</summary>
    public const int MaxConfusionGrid = 1200;

    /// <summary>Longest class name drawn, in characters (a longer one is cut and ends with "...").</summary>
    private const int MaxNameLength = 40;

    /// <summary>
    /// A confusion-matrix heat map: rows are the actual classes, columns the predicted ones, shaded by each cell's share of
    /// its row. Up to <see cref="LabelledClasses"/> classes each cell shows its count and each class its name; up to
    /// <see cref="MaxConfusionClasses"/> the cells fit <see cref="MaxConfusionGrid"/> pixels without names or counts; past
    /// that nothing is drawn (a picture of 1,700 classes at 28 pixels a cell was 47,720 pixels square, 9 GB).
    /// </summary>
    /// <returns>False when there were too many classes and no file was written.</returns>
    public static bool ConfusionMatrix(string path, string title, IReadOnlyList<string> classNames, IReadOnlyList<IReadOnlyList<long>> counts)
    {
        int n = classNames.Count;
        if (n > MaxConfusionClasses)
        {
            return false;
        }

        bool labelled = n <= LabelledClasses;
        float cell = labelled ? Math.Clamp(480f / n, 28, 64) : (float)MaxConfusionGrid / n;
        var names = classNames.Select(Drawable).Select(c => c.Length > MaxNameLength ? string.Concat(c.AsSpan(0, MaxNameLength - 3), "...") : c).ToList();
        using var label = Text(TextSize, SKTextAlign.Right);
        float namesWidth = labelled ? names.Max(c => label.MeasureText(c)) : 0;
        var grid = SKRect.Create(36 + namesWidth + 10, 84, n * cell, n * cell);
        using var heading = Text(18, SKTextAlign.Left, bold: true);
        string explanation = "rows: actual class; columns: predicted class; shade: share of the row"
            + (labelled ? string.Empty : string.Create(CultureInfo.InvariantCulture, $" ({n} classes: names and counts are in report.html and metrics.json)"));
        using var note = Text(TextSize, SKTextAlign.Left);
        note.Color = new SKColor(90, 90, 90);
        int width = (int)Math.Ceiling(Math.Max(grid.Right + 30, Math.Max(heading.MeasureText(Drawable(title)), note.MeasureText(explanation)) + 40));
        int height = (int)Math.Ceiling(grid.Bottom + 10 + namesWidth + 40);

        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        canvas.DrawText(Drawable(title), 20, 30, heading);
        canvas.DrawText(explanation, 20, 54, note);

        using var count = Text(Math.Min(TextSize, cell * 0.4f), SKTextAlign.Center);
        using var border = Stroke(new SKColor(200, 200, 200), 1);
        for (int row = 0; row < n; row++)
        {
            long total = Math.Max(1, counts[row].Sum());
            for (int column = 0; column < n; column++)
            {
                double share = (double)counts[row][column] / total;
                var rect = SKRect.Create(grid.Left + (column * cell), grid.Top + (row * cell), cell, cell);
                using var shade = Fill(Shade(share));
                canvas.DrawRect(rect, shade);
                if (labelled)
                {
                    canvas.DrawRect(rect, border);
                    count.Color = share > 0.5 ? SKColors.White : SKColors.Black;
                    canvas.DrawText(counts[row][column].ToString(CultureInfo.InvariantCulture), rect.MidX, rect.MidY + (count.TextSize / 3), count);
                }
            }

            if (labelled)
            {
                canvas.DrawText(names[row], grid.Left - 8, grid.Top + (row * cell) + (cell / 2) + (TextSize / 3), label);
                Rotated(canvas, names[row], grid.Left + (row * cell) + (cell / 2) + (TextSize / 3), grid.Bottom + 8, label);
            }
        }

        canvas.DrawRect(grid, border);
        using var axisTitle = Text(TextSize, SKTextAlign.Center, bold: true);
        canvas.DrawText("predicted", grid.MidX, height - 12, axisTitle);
        Rotated(canvas, "actual", 22, grid.MidY, axisTitle);
        Save(surface, path);
        return true;
    }

    /// <summary>
    /// The text as it can be drawn: characters the typeface has no glyph for are written as escapes (<c>\u732b</c>), so
    /// class names in a script no font at hand covers stay distinct. Found by an outside sweep: classes 猫 and 犬 were
    /// two identical empty boxes in confusion.png (SkiaSharp draws with one face and falls back to no other).
    /// </summary>
    internal static string Drawable(string text)
    {
        var face = Typeface.Value;
        if (face.ContainsGlyphs(text))
        {
            return text;
        }

        var drawable = new StringBuilder();
        foreach (var rune in text.EnumerateRunes())
        {
            drawable.Append(face.ContainsGlyph(rune.Value) ? rune.ToString() : string.Create(CultureInfo.InvariantCulture, $"\\u{rune.Value:x4}"));
        }

        return drawable.ToString();
    }

    /// <summary>"Nice" tick values (1, 2, 2.5 or 5 times a power of ten) covering [min, max]; the first and last are the axis ends.</summary>
    public static double[] Ticks(double min, double max, bool integers = false)
    {
        if (max - min < 1e-9)
        {
            double pad = Math.Max(Math.Abs(max) * 0.1, 0.05);
            (min, max) = (min - pad, max + pad);
        }

        double raw = (max - min) / 5;
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * magnitude).First(s => s >= raw * 0.999);
        if (integers)
        {
            step = Math.Max(1, Math.Round(step));
        }

        double start = Math.Floor(min / step) * step;
        int steps = (int)Math.Ceiling(((max - start) / step) - 1e-9);
        return Enumerable.Range(0, Math.Max(1, steps) + 1).Select(i => Math.Round(start + (i * step), 10)).ToArray();
    }

    private static SKColor Shade(double share)
    {
        // White to a dark blue, linear in the share.
        byte Mix(int from, int to) => (byte)Math.Round(from + ((to - from) * Math.Clamp(share, 0, 1)));
        return new SKColor(Mix(255, 8), Mix(255, 48), Mix(255, 107));
    }

    private static void Legend(SKCanvas canvas, IReadOnlyList<Series> series, float right, float baseline)
    {
        using var text = Text(TextSize, SKTextAlign.Left);
        float x = right;
        foreach (var s in series.Reverse())
        {
            x -= text.MeasureText(s.Name) + 34;
            using var line = Stroke(s.Colour, 2.5f);
            canvas.DrawLine(x, baseline - (TextSize / 3), x + 22, baseline - (TextSize / 3), line);
            canvas.DrawText(s.Name, x + 28, baseline, text);
            x -= 12;
        }
    }

    /// <summary>Text turned a quarter left, reading upwards, ending (right-aligned) or centred at (x, y).</summary>
    private static void Rotated(SKCanvas canvas, string text, float x, float y, SKPaint paint)
    {
        canvas.Save();
        canvas.RotateDegrees(-90, x, y);
        canvas.DrawText(text, x, y, paint);
        canvas.Restore();
    }

    private static SKPaint Stroke(SKColor colour, float width) => new() { Color = colour, StrokeWidth = width, Style = SKPaintStyle.Stroke, IsAntialias = true };

    private static SKPaint Fill(SKColor colour) => new() { Color = colour, Style = SKPaintStyle.Fill, IsAntialias = true };

    private static SKPaint Text(float size, SKTextAlign align, bool bold = false) => new()
    {
        Color = SKColors.Black,
        TextSize = size,
        TextAlign = align,
        IsAntialias = true,
        Typeface = Typeface.Value,
        FakeBoldText = bold,
    };

    private static void Save(SKSurface surface, string path)
    {
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        png.SaveTo(file);
    }

    /// <summary>
    /// A sans-serif face: a common family when the font manager knows one, else a common font file (SkiaSharp's
    /// Linux build that ML.NET ships has no fontconfig, so it may know none), else the default face, else any font
    /// file. Without any font at all the pictures are drawn without text.
    /// </summary>
    private static SKTypeface FindTypeface()
    {
        foreach (string family in new[] { "DejaVu Sans", "Liberation Sans", "Arial", "Helvetica", "Segoe UI" })
        {
            if (SKFontManager.Default.MatchFamily(family) is { GlyphCount: > 0 } match)
            {
                return match;
            }
        }

        string[] known =
        [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
        ];
        string[] folders = ["/usr/share/fonts", "/usr/local/share/fonts", Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".fonts")];
        var anyFont = folders.Where(Directory.Exists).SelectMany(f => Directory.EnumerateFiles(f, "*.ttf", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
        var files = known.Where(File.Exists).Select(SKTypeface.FromFile).Append(SKTypeface.Default).Concat(anyFont.Select(SKTypeface.FromFile));
        return files.FirstOrDefault(t => t is { GlyphCount: > 0 }) ?? SKTypeface.Default;
    }
}
