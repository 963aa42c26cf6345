using System.Runtime.ExceptionServices;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>An image folder read by <see cref="ImageFolder.Load"/>.</summary>
/// <param name="Data">Columns <c>ImagePath</c> (text, absolute path) and <c>Label</c> (key; key values are the class names).</param>
/// <param name="ClassNames">The class order of the label key: the sub-folder names sorted ordinally, or the model's classes for <see cref="ImageFolder.LoadLabelled"/>.</param>
/// <param name="ImageCount">Rows in <paramref name="Data"/>.</param>
/// <param name="Skipped">Files left out because they could not be decoded (only with <c>skipUnreadable</c>), each with the reason.</param>
public sealed record ImageFolderData(IDataView Data, IReadOnlyList<string> ClassNames, int ImageCount, IReadOnlyList<string> Skipped)
{
    /// <summary>Files not read, full paths sorted: names without an image extension (.tif, none) and files directly in the root, outside any class folder.</summary>
    public IReadOnlyList<string> Ignored { get; init; } = [];

    /// <summary>Class sub-folders that gave no image (none found, or none that decoded), so name no class; full paths.</summary>
    public IReadOnlyList<string> EmptyClassFolders { get; init; } = [];
}

/// <summary>
/// Reads a folder with one sub-folder per class (the layout of torchvision's <c>ImageFolder</c> and of
/// Model Builder): <c>root/cat/1.jpg</c>, <c>root/dog/a.png</c>. Images may be jpg, png, bmp, gif or
/// webp, any size, colour or grey; the trainer resizes and converts them in the pipeline.
/// </summary>
public static class ImageFolder
{
    /// <summary>Name of the path column.</summary>
    public const string ImagePathColumnName = "ImagePath";

    /// <summary>Lists and checks the images under <paramref name="root"/>; the sub-folder names, sorted ordinally, are the classes.</summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="root">Folder holding one sub-folder per class.</param>
    /// <param name="skipUnreadable">Leave out files that do not decode (reported in <see cref="ImageFolderData.Skipped"/>) instead of failing.</param>
    /// <param name="progress">Called with (files checked, files in total) while decoding (from several threads, one call at a time).</param>
    /// <param name="cancellationToken">Stops the check between files (a folder of 100,000 photos takes hours to check on 2 cores).</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">Fewer than two class folders hold images, a class folder's name holds a control character or equals another's after Unicode normalization, the folder is a data set already split (<c>train/</c> and <c>val/</c> holding the same class sub-folders), a folder under a class holds a training run's output (model.zip and metrics.json) beside images, or (without <paramref name="skipUnreadable"/>) a file does not decode; the message names it.</exception>
    /// <exception cref="UnauthorizedAccessException">A class folder, or a folder under one, cannot be read; the message names it.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the message says how many files were checked.</exception>
    public static ImageFolderData Load(MLContext mlContext, string root, bool skipUnreadable = false, Action<int, int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        var (fullRoot, folders, rootFiles) = ClassFolders(root);
        ClassFolderNames.CheckNotSplit(fullRoot, folders);
        var (rows, skipped, ignored) = Read(folders.Select(f => (f, Path.GetFileName(f))).ToList(), skipUnreadable, progress, cancellationToken);
        var classNames = rows.Select(r => r.Label).Distinct().Order(StringComparer.Ordinal).ToList();
        if (classNames.Count < 2)
        {
            throw new InvalidDataException($"Image folder '{fullRoot}' needs at least two class sub-folders holding images ({string.Join(", ", ImageDecoding.Extensions)}); found {classNames.Count} with {rows.Count} images.{ImagesBesideTheClasses(rootFiles)}{OneFolderAbove(fullRoot, classNames)}");
        }

        return Result(mlContext, rows, classNames, skipped, folders, rootFiles.Concat(ignored));
    }

    /// <summary>
    /// Reads a labelled test folder for a trained model: its sub-folders name classes of <paramref name="classNames"/>
    /// (the model's, in score order; <c>mlContext.CnnServing().GetClassNames</c>), and the label key follows that
    /// order, so ML.NET's <c>Evaluate</c> compares like with like even when the folder holds only some of the classes.
    /// A class name with a '/' (Fashion-MNIST's "T-shirt/top") matches a folder named with '-' instead.
    /// </summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="root">Folder holding one sub-folder per class present.</param>
    /// <param name="classNames">The model's class names, in score order.</param>
    /// <param name="skipUnreadable">Leave out files that do not decode instead of failing.</param>
    /// <param name="progress">Called with (files checked, files in total) while decoding (from several threads, one call at a time).</param>
    /// <param name="cancellationToken">Stops the check between files.</param>
    /// <exception cref="InvalidDataException">A sub-folder names no class of the model (the message names it and lists the model's classes), or no folder holds an image.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the message says how many files were checked.</exception>
    public static ImageFolderData LoadLabelled(MLContext mlContext, string root, IReadOnlyList<string> classNames, bool skipUnreadable = false, Action<int, int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(classNames);
        var (fullRoot, folders, rootFiles) = ClassFolders(root);
        var known = classNames.ToDictionary(FolderName, n => n, StringComparer.Ordinal);
        // A sub-folder without images (an empty class folder) names nothing to score, whatever its name.
        folders = folders.Where(f => known.ContainsKey(Path.GetFileName(f)) || FindImageFiles(f).Count > 0).ToList();
        var unknown = folders.Select(Path.GetFileName).Where(f => !known.ContainsKey(f!)).ToList();
        if (unknown.Count > 0)
        {
            throw new InvalidDataException($"Image folder '{fullRoot}' has {(unknown.Count == 1 ? "a sub-folder" : "sub-folders")} {string.Join(", ", unknown.Select(u => $"'{u}'"))} that {(unknown.Count == 1 ? "names" : "name")} no class of the model; its classes are: {string.Join(", ", classNames)}.");
        }

        var (rows, skipped, ignored) = Read(folders.Select(f => (f, known[Path.GetFileName(f)])).ToList(), skipUnreadable, progress, cancellationToken);
        if (rows.Count == 0)
        {
            string parent = known.ContainsKey(Path.GetFileName(fullRoot)) ? $" '{fullRoot}' is named as a class: give the folder holding it, '{Path.GetDirectoryName(fullRoot)}'." : string.Empty;
            throw new InvalidDataException($"Image folder '{fullRoot}' holds no images ({string.Join(", ", ImageDecoding.Extensions)}) in its class sub-folders.{ImagesBesideTheClasses(rootFiles)}{parent}");
        }

        return Result(mlContext, rows, classNames, skipped, folders, rootFiles.Concat(ignored));
    }

    /// <summary>What to do with images that lie in the root itself, where no class holds them (empty when none do).</summary>
    private static string ImagesBesideTheClasses(List<string> rootFiles)
    {
        int images = rootFiles.Count(f => ImageDecoding.Extensions.Contains(Path.GetExtension(f)));
        return images == 0 ? string.Empty
            : $" {images} {(images == 1 ? "image lies" : "images lie")} directly in it, outside any class folder, and {(images == 1 ? "is" : "are")} not read: put each class's images in a sub-folder named after the class.";
    }

    /// <summary>
    /// When the one class folder found holds sub-folders, as a zip unpacked into a folder of its own name does
    /// (<c>photos/photos/cat</c>), the folder to give instead (empty otherwise).
    /// </summary>
    private static string OneFolderAbove(string root, List<string> classNames)
    {
        if (classNames.Count != 1)
        {
            return string.Empty;
        }

        string only = Path.Combine(root, classNames[0]);
        var inside = FolderWalk.VisibleSubFolders(only).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        return inside.Count < 2 ? string.Empty
            : $" Its one class folder '{classNames[0]}' holds the sub-folders {ClassFolderNames.Quoted(inside, 5)}: if they are the classes, give '{only}'.";
    }

    /// <summary>
    /// The rows read from <paramref name="folders"/>, keyed on <paramref name="classNames"/>, with what was left out: the
    /// <paramref name="ignored"/> files, and the class folders that gave no row.
    /// </summary>
    private static ImageFolderData Result(MLContext mlContext, List<Row> rows, IReadOnlyList<string> classNames, IReadOnlyList<string> skipped, List<string> folders, IEnumerable<string> ignored)
    {
        var present = rows.Select(r => FolderName(r.Label)).ToHashSet(StringComparer.Ordinal);
        return new ImageFolderData(KeyedLabels(mlContext, mlContext.Data.LoadFromEnumerable(rows), classNames), classNames, rows.Count, skipped)
        {
            Ignored = ignored.Order(StringComparer.Ordinal).ToList(),
            EmptyClassFolders = folders.Where(f => !present.Contains(Path.GetFileName(f))).ToList(),
        };
    }

    /// <summary>The folder a class's images go in: the name, with '/' as '-'.</summary>
    public static string FolderName(string className) => className.Replace('/', '-');

    /// <summary>
    /// Splits a folder's images per class: of each class's n images, round(<paramref name="fraction"/> x n) (at least
    /// one where the class has two or more) go to the held-out part, chosen by <paramref name="seed"/>, so every class
    /// appears on both sides in its own proportion (within one image). Both parts keep the folder's class order.
    /// </summary>
    public static (ImageFolderData Train, ImageFolderData HeldOut) Split(MLContext mlContext, ImageFolderData folder, double fraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(folder);
        if (!(fraction > 0 && fraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The held-out fraction must be in (0, 1).");
        }

        var paths = folder.Data.GetColumn<string>(ImagePathColumnName).ToList();
        var labels = folder.Data.GetColumn<uint>(LabelColumnName).ToList();
        var random = new Random(seed);
        var heldOut = new HashSet<int>();
        foreach (var rows in Enumerable.Range(0, labels.Count).GroupBy(i => labels[i]).OrderBy(g => g.Key))
        {
            var indices = rows.ToArray();
            random.Shuffle(indices);
            int take = indices.Length < 2 ? 0 : Math.Clamp((int)Math.Round(fraction * indices.Length, MidpointRounding.AwayFromZero), 1, indices.Length - 1);
            heldOut.UnionWith(indices.Take(take));
        }

        ImageFolderData Part(bool held)
        {
            var rows = Enumerable.Range(0, paths.Count).Where(i => heldOut.Contains(i) == held)
                .Select(i => new Row { ImagePath = paths[i], Label = folder.ClassNames[(int)labels[i] - 1] }).ToList();
            return held
                ? new ImageFolderData(KeyedLabels(mlContext, mlContext.Data.LoadFromEnumerable(rows), folder.ClassNames), folder.ClassNames, rows.Count, [])
                : folder with { Data = KeyedLabels(mlContext, mlContext.Data.LoadFromEnumerable(rows), folder.ClassNames), ImageCount = rows.Count };
        }

        return (Part(held: false), Part(held: true));
    }

    /// <summary>Turns the text <c>Label</c> column of <paramref name="view"/> into a key whose values are <paramref name="classNames"/>, in that order (the model's class order when they are its names).</summary>
    public static IDataView KeyedLabels(MLContext mlContext, IDataView view, IReadOnlyList<string> classNames)
    {
        // The key's order is the class-index order, whatever order the rows come in.
        var keys = mlContext.Data.LoadFromEnumerable(classNames.Select(n => new KeyRow { Label = n }));
        return mlContext.Transforms.Conversion.MapValueToKey(LabelColumnName, keyData: keys).Fit(view).Transform(view);
    }

    private const string LabelColumnName = "Label";

    /// <summary>The class sub-folders of <paramref name="root"/> (checked by <see cref="ClassFolderNames.Check"/>), and the files beside them, which no class holds.</summary>
    private static (string Root, List<string> Folders, List<string> RootFiles) ClassFolders(string root)
    {
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"Image folder '{root}' does not exist.");
        }

        string full = Path.GetFullPath(root);
        var folders = FolderWalk.VisibleSubFolders(full).Order(StringComparer.Ordinal).ToList();
        folders.ForEach(FolderWalk.CheckOpenable);
        ClassFolderNames.Check(full, folders.Select(Path.GetFileName).ToList()!);
        var files = Directory.GetFiles(full).Where(f => !FolderWalk.IsHidden(Path.GetFileName(f))).ToList();
        return (full, folders, files);
    }

    /// <summary>
    /// The image files (by extension: jpg, jpeg, jpe, jfif, png, bmp, gif, webp, any case) in <paramref name="folder"/> and its
    /// sub-folders, as full paths sorted ordinally. Names starting with '.' are left out: hidden folders such as
    /// <c>.ipynb_checkpoints</c> or <c>.git</c>, and macOS's <c>._photo.jpg</c> resource files. Links to folders are
    /// followed, each real folder at most once (a second link to a folder already read adds nothing), except a link to
    /// the folder holding it or to one of its ancestors: that is a loop, not more images. Links to files are listed;
    /// whether their target can be read is for the decoder to say.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder, or one under it, cannot be read; the message names it.</exception>
    public static IReadOnlyList<string> FindImageFiles(string folder) => ListFiles(folder).Images;

    /// <summary>
    /// The files of <paramref name="folder"/> as <see cref="FindImageFiles"/> walks them: the image files, and the other
    /// files (not hidden) it leaves out by extension (.tif, none), both as full paths sorted ordinally.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder, or one under it, cannot be read; the message names it.</exception>
    public static (IReadOnlyList<string> Images, IReadOnlyList<string> Ignored) ListFiles(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var (images, ignored, _) = Walk(folder);
        return (images, ignored);
    }

    private static (List<string> Images, List<string> Ignored, Dictionary<string, string> Folders) Walk(string folder) => Directory.Exists(folder)
        ? FolderWalk.Files(folder, name => ImageDecoding.Extensions.Contains(Path.GetExtension(name)))
        : throw new DirectoryNotFoundException($"Image folder '{folder}' does not exist.");

    /// <summary>
    /// The image files of each class folder, and the files ignored. A real folder reached from two classes (a class
    /// folder that is a link to another, or a link inside one class to another class's images) is an error: found by an
    /// outside sweep, such images were read under both labels (a model trained on them and evaluate counted them twice,
    /// while predict, which reads each real folder once, listed them once).
    /// </summary>
    private static (List<(string Path, string Class)> Files, List<string> Ignored) ClassFiles(IReadOnlyList<(string Folder, string Class)> folders)
    {
        var files = new List<(string Path, string Class)>();
        var ignored = new List<string>();
        var owner = new Dictionary<string, (string Path, string Class)>();
        foreach (var (folder, name) in folders)
        {
            var (images, others, read) = Walk(folder);
            foreach (var (real, path) in read)
            {
                if (owner.TryGetValue(real, out var first) && first.Class != name)
                {
                    string where = string.Equals(path, real, StringComparison.Ordinal) ? $"'{path}'" : $"'{path}' (a link to '{real}')";
                    throw new InvalidDataException($"Folder {where}, read for class '{name}', is also read for class '{first.Class}' (as '{first.Path}'): its images would carry both labels. Remove the link, or copy the images that belong to both.");
                }

                owner.TryAdd(real, (path, name));
            }

            CheckNoRunOutput(images, others, name);
            files.AddRange(images.Select(f => (f, name)));
            ignored.AddRange(others);
        }

        return (files, ignored);
    }

    /// <summary>The files that mark a folder as the output of a training run (<c>mlnetcnn train --output</c>).</summary>
    private static readonly string[] RunOutputFiles = ["model.zip", "metrics.json"];

    /// <summary>
    /// Refuses a folder among a class's that holds a training run's output (<see cref="RunOutputFiles"/>) beside images:
    /// earlier versions let <c>train --output</c> write inside <c>--data</c>, and the next run read that run's loss.png,
    /// accuracy.png and confusion.png as images of one more class, or of the class holding them, without a word.
    /// </summary>
    private static void CheckNoRunOutput(List<string> images, List<string> others, string className)
    {
        var runs = others.Where(f => RunOutputFiles.Contains(Path.GetFileName(f), StringComparer.Ordinal))
            .GroupBy(Path.GetDirectoryName, StringComparer.Ordinal)
            .Where(g => g.Select(Path.GetFileName).Distinct(StringComparer.Ordinal).Count() == RunOutputFiles.Length);
        foreach (var run in runs)
        {
            int count = images.Count(f => string.Equals(Path.GetDirectoryName(f), run.Key, StringComparison.Ordinal));
            if (count > 0)
            {
                throw new InvalidDataException($"Folder '{run.Key}', read for class '{className}', holds {string.Join(" and ", RunOutputFiles)}, as a training run's output does: its {count} {(count == 1 ? "image" : "images")} would be read as {(count == 1 ? "an image" : "images")} of class '{className}'. Move it out of the image folder.");
            }
        }
    }

    /// <summary>
    /// Threads that decode to check a folder: one per core, but no more than a quarter of the memory this process may use
    /// holds at the decode limit (about 8 bytes a pixel while one image decodes: 320 MB at 40 megapixels). A folder of
    /// camera photos decoded on every core of a 64-core host in a 4 GB container would otherwise need 20 GB.
    /// </summary>
    internal static int CheckingThreads()
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (available <= 0)
        {
            return Environment.ProcessorCount; // not known before the first collection on some runtimes
        }

        long perImage = Math.Max(1, ImageDecodeLimit.Current.MaxPixels * 8);
        long byMemory = available / 4 / perImage;
        return (int)Math.Clamp(byMemory, 1, Environment.ProcessorCount);
    }

    private static (List<Row> Rows, List<string> Skipped, List<string> Ignored) Read(IReadOnlyList<(string Folder, string Class)> folders, bool skipUnreadable, Action<int, int>? progress, CancellationToken cancellationToken)
    {
        var (files, ignored) = ClassFiles(folders);

        // Every file is decoded once to check it, on all cores; results stay in file order, and without
        // skipUnreadable the first bad file in that order is the one reported. A cancellation stops it between files:
        // before, Ctrl+C in mlnetcnn train or evaluate went on checking every file (minutes to hours for photos).
        var errors = new InvalidDataException?[files.Count];
        int checkedFiles = 0;
        var reporting = new object();
        try
        {
            Parallel.For(0, files.Count, new ParallelOptions { MaxDegreeOfParallelism = CheckingThreads(), CancellationToken = cancellationToken }, (i, loop) => Check(i, loop));
        }
        catch (OperationCanceledException e) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException($"Checking the image files was cancelled after {checkedFiles:N0} of {files.Count:N0}.", e, cancellationToken);
        }

        void Check(int i, ParallelLoopState loop)
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

            lock (reporting)
            {
                progress?.Invoke(++checkedFiles, files.Count);
            }
        }

        if (!skipUnreadable && errors.FirstOrDefault(e => e is not null) is { } first)
        {
            ExceptionDispatchInfo.Throw(first);
        }

        var rows = files.Where((_, i) => errors[i] is null).Select(f => new Row { ImagePath = f.Path, Label = f.Class }).ToList();
        var skipped = errors.OfType<InvalidDataException>().Select(e => e.Message).ToList();
        return (rows, skipped, ignored);
    }

    private sealed class Row
    {
        public string ImagePath { get; set; } = string.Empty;

        public string Label { get; set; } = string.Empty;
    }

    private sealed class KeyRow
    {
        public string Label { get; set; } = string.Empty;
    }
}
