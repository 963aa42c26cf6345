using SkiaSharp;

[assembly: Parallelize(Workers = 1, Scope = ExecutionScope.ClassLevel)]

namespace MLNetCnn.Cli.Tests;

/// <summary>What one in-process run of the command line returned and wrote.</summary>
internal sealed record CliResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- output ---\n{Output}\n--- error ---\n{Error}";
}

/// <summary>One line of <c>predict</c>: path, top label, its probability.</summary>
internal sealed record Prediction(string Path, string Label, double Probability);

internal static class Cli
{
    /// <summary>The lines of a successful <c>predict</c> run, each checked to be path, label and probability in (0, 1].</summary>
    public static IReadOnlyList<Prediction> Predictions(CliResult result)
    {
        Assert.AreEqual(0, result.ExitCode, result.ToString());
        return result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            var fields = line.Split('\t');
            Assert.AreEqual(3, fields.Length, line);
            var prediction = new Prediction(fields[0], fields[1], double.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture));
            Assert.IsTrue(File.Exists(prediction.Path) && prediction.Probability is > 0 and <= 1, line);
            return prediction;
        }).ToList();
    }

    /// <summary>Runs <c>mlnetcnn</c> with <paramref name="args"/> in this process, capturing both writers.</summary>
    public static CliResult Run(params string[] args) => Run(CancellationToken.None, args);

    /// <summary>Runs <c>mlnetcnn</c> in this process with a cancellation token, as the tool passes on Ctrl+C.</summary>
    public static CliResult Run(CancellationToken cancellation, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = CliApp.Run(args, output, error, cancellation);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>A fresh folder under the temp folder, unique to this process.</summary>
    public static string TempFolder(string name)
    {
        string path = Path.Combine(Path.GetTempPath(), $"mlnetcnn-cli-tests-{Environment.ProcessId}", name);
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }

        Directory.CreateDirectory(path);
        return path;
    }

    public static void DeleteTempFolders()
    {
        string root = Path.Combine(Path.GetTempPath(), $"mlnetcnn-cli-tests-{Environment.ProcessId}");
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }
    }
}

/// <summary>
/// A folder of three visually distinct classes of PNG files (blue discs, red stripes, green checks) of
/// several sizes and shapes, with random positions, periods and shades, so the classes are easy but no
/// two files are the same.
/// </summary>
internal static class GeneratedImages
{
    public static readonly string[] ClassNames = ["checks", "discs", "stripes"];

    public static void Write(string root, int perClass, int seed)
    {
        var random = new Random(seed);
        int[] sizes = [20, 24, 32, 40];
        foreach (string name in ClassNames)
        {
            string folder = Path.Combine(root, name);
            Directory.CreateDirectory(folder);
            for (int i = 0; i < perClass; i++)
            {
                int width = sizes[random.Next(sizes.Length)], height = sizes[random.Next(sizes.Length)];
                using var bitmap = new SKBitmap(width, height);
                using (var canvas = new SKCanvas(bitmap))
                {
                    Draw(canvas, name, width, height, random);
                }

                using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(Path.Combine(folder, $"{name}-{i:D2}.png"), png.ToArray());
            }
        }
    }

    private static void Draw(SKCanvas canvas, string name, int width, int height, Random random)
    {
        byte shade = (byte)random.Next(170, 256);
        using var paint = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Fill };
        canvas.Clear(SKColors.White);
        switch (name)
        {
            case "discs":
                paint.Color = new SKColor(0, 0, shade);
                float radius = Math.Min(width, height) * (0.25f + (0.15f * random.NextSingle()));
                canvas.DrawCircle(width / 2f + random.Next(-2, 3), height / 2f + random.Next(-2, 3), radius, paint);
                break;
            case "stripes":
                paint.Color = new SKColor(shade, 0, 0);
                int period = random.Next(4, 8), offset = random.Next(period);
                for (int y = offset; y < height; y += period)
                {
                    canvas.DrawRect(0, y, width, period / 2f, paint);
                }

                break;
            default:
                paint.Color = new SKColor(0, shade, 0);
                int cell = random.Next(3, 7);
                for (int y = 0; y < height; y += cell)
                {
                    for (int x = (y / cell) % 2 * cell; x < width; x += 2 * cell)
                    {
                        canvas.DrawRect(x, y, cell, cell, paint);
                    }
                }

                break;
        }
    }
}
