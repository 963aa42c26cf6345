using System.Runtime.ExceptionServices;
using Microsoft.ML;

namespace MLNetCnn.Estimators.Data;

/// <summary>An image folder read by <see cref="ImageFolder.Load"/>.</summary>
/// <param name="Data">Columns <c>ImagePath</c> (text, absolute path) and <c>Label</c> (key; key values are the class names).</param>
/// <param name="ClassNames">Sub-folder names, sorted ordinally: the class order of the label key.</param>
/// <param name="ImageCount">Rows in <paramref name="Data"/>.</param>
/// <param name="Skipped">Files left out because they could not be decoded (only with <c>skipUnreadable</c>), each with the reason.</param>
public sealed record ImageFolderData(IDataView Data, IReadOnlyList<string> ClassNames, int ImageCount, IReadOnlyList<string> Skipped);

/// <summary>
/// Reads a folder with one sub-folder per class (the layout of torchvision's <c>ImageFolder</c> and of
/// Model Builder): <c>root/cat/1.jpg</c>, <c>root/dog/a.png</c>. Images may be jpg, png, bmp, gif or
/// webp, any size, colour or grey; the trainer resizes and converts them in the pipeline.
/// </summary>
public static class ImageFolder
{
    /// <summary>Name of the path column.</summary>
    public const string ImagePathColumnName = "ImagePath";

    /// <summary>Lists and checks the images under <paramref name="root"/>.</summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="root">Folder holding one sub-folder per class.</param>
    /// <param name="skipUnreadable">Leave out files that do not decode (reported in <see cref="ImageFolderData.Skipped"/>) instead of failing.</param>
    /// <param name="progress">Called with (files checked, files in total) while decoding (from several threads, one call at a time).</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">Fewer than two class folders hold images, or (without <paramref name="skipUnreadable"/>) a file does not decode; the message names it.</exception>
    public static ImageFolderData Load(MLContext mlContext, string root, bool skipUnreadable = false, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"Image folder '{root}' does not exist.");
        }

        root = Path.GetFullPath(root);
        var files = new List<(string Path, string Class)>();
        foreach (string folder in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(folder);
            files.AddRange(Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Where(f => ImageDecoding.Extensions.Contains(Path.GetExtension(f)))
                .Order(StringComparer.Ordinal)
                .Select(f => (f, name)));
        }

        // Every file is decoded once to check it, on all cores; results stay in file order, and without
        // skipUnreadable the first bad file in that order is the one reported.
        var errors = new InvalidDataException?[files.Count];
        int checkedFiles = 0;
        var reporting = new object();
        Parallel.For(0, files.Count, (i, loop) =>
        {
            try
            {
                using var image = ImageDecoding.DecodeFile(files[i].Path);
            }
            catch (InvalidDataException e)
            {
                errors[i] = e;
                if (!skipUnreadable)
                {
                    loop.Break();
                }
            }

            if (progress is not null)
            {
                lock (reporting)
                {
                    progress(++checkedFiles, files.Count);
                }
            }
        });

        if (!skipUnreadable && errors.FirstOrDefault(e => e is not null) is { } first)
        {
            ExceptionDispatchInfo.Throw(first);
        }

        var rows = files.Where((_, i) => errors[i] is null).Select(f => new Row { ImagePath = f.Path, Label = f.Class }).ToList();
        var skipped = errors.OfType<InvalidDataException>().Select(e => e.Message).ToList();
        var classNames = rows.Select(r => r.Label).Distinct().Order(StringComparer.Ordinal).ToList();
        if (classNames.Count < 2)
        {
            throw new InvalidDataException($"Image folder '{root}' needs at least two class sub-folders holding images ({string.Join(", ", ImageDecoding.Extensions)}); found {classNames.Count} with {rows.Count} images.");
        }

        var data = ImageData.KeyedLabels(mlContext, mlContext.Data.LoadFromEnumerable(rows), classNames);
        return new ImageFolderData(data, classNames, rows.Count, skipped);
    }

    private sealed class Row
    {
        public string ImagePath { get; set; } = string.Empty;

        public string Label { get; set; } = string.Empty;
    }
}
