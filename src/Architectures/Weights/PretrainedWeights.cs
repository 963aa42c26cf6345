using MLNetCnn.Architectures.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Weights;

/// <summary>What <see cref="PretrainedWeights.Load"/> did with each tensor.</summary>
/// <param name="Loaded">Model keys copied from the file unchanged (dtype converted if needed).</param>
/// <param name="Adapted">Model keys filled from an RGB tensor by summing its input channels (a grey model from colour weights).</param>
/// <param name="Skipped">Model keys whose tensor in the file has another shape (the classifier for a new class count, a different stem), with the two shapes; they keep their fresh initialization.</param>
/// <param name="NotInFile">Model keys the file lacks; they keep their fresh initialization.</param>
/// <param name="Unused">File keys the model has no place for.</param>
public sealed record WeightLoadReport(IReadOnlyList<string> Loaded, IReadOnlyList<string> Adapted, IReadOnlyList<string> Skipped, IReadOnlyList<string> NotInFile, IReadOnlyList<string> Unused)
{
    /// <summary>One line for a log.</summary>
    public override string ToString() =>
        $"loaded {Loaded.Count} tensors, adapted {Adapted.Count} to grey, kept fresh {Skipped.Count} of another shape ({string.Join("; ", Skipped.Take(6))}{(Skipped.Count > 6 ? "; ..." : string.Empty)}) and {NotInFile.Count} missing from the file; {Unused.Count} file tensors unused";
}

/// <summary>
/// Starts a model from saved weights: a torchvision state_dict (keys match this library's state_dict
/// keys by construction; a .pth checkpoint or a safetensors file) or weights this library saved.
/// Tensors whose shape differs (the classifier when the class count changes) keep their fresh
/// initialization, which is what "replace the classifier" means.
/// </summary>
public static class PretrainedWeights
{
    /// <summary>Reads a weights file by extension: .safetensors, or .pth / .pt (PyTorch's zip checkpoint of a state_dict).</summary>
    /// <returns>Tensors by key (CPU) and the file's string metadata (safetensors only).</returns>
    /// <exception cref="InvalidDataException">Unknown extension or malformed file; the message names the file.</exception>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Weights file '{Path.GetFullPath(path)}' not found.", path);
        }

        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".safetensors" => SafeTensors.Read(path),
            ".pth" or ".pt" => (TorchCheckpoint.ReadStateDict(path), new Dictionary<string, string>()),
            var other => throw new InvalidDataException($"Weights file '{path}' has extension '{other}'; expected .safetensors, .pth or .pt."),
        };
    }

    /// <summary>Copies matching tensors of <paramref name="tensors"/> into <paramref name="model"/>'s parameters and buffers.</summary>
    /// <param name="model">The model. For a <see cref="NormalizedClassifier"/>, file keys without the <c>network.</c> prefix (torchvision's) go to the wrapped network.</param>
    /// <param name="tensors">Tensors by state_dict key.</param>
    public static WeightLoadReport Load(ImageClassifier model, IReadOnlyDictionary<string, Tensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tensors);
        var loaded = new List<string>();
        var adapted = new List<string>();
        var skipped = new List<string>();
        var missing = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        string prefix = model is NormalizedClassifier ? "network." : string.Empty;
        using var noGrad = no_grad();
        foreach (var (key, target) in model.state_dict())
        {
            string? fileKey = tensors.ContainsKey(key) ? key
                : key.StartsWith(prefix, StringComparison.Ordinal) && prefix.Length > 0 && tensors.ContainsKey(key[prefix.Length..]) ? key[prefix.Length..]
                : null;
            if (fileKey is null)
            {
                missing.Add(key);
                continue;
            }

            used.Add(fileKey);
            var source = tensors[fileKey];
            if (source.shape.SequenceEqual(target.shape))
            {
                using var converted = source.to(target.dtype, target.device);
                target.copy_(converted);
                loaded.Add(key);
            }
            else if (IsGreyFromRgb(source, target))
            {
                // A grey model from colour weights: the first convolution sees R = G = B = grey, so its
                // response is that of the summed RGB kernels (the usual single-channel adaptation).
                using var summed = source.to(target.dtype, target.device).sum(1, keepdim: true);
                target.copy_(summed);
                adapted.Add(key);
            }
            else
            {
                skipped.Add($"{key}: [{string.Join(", ", source.shape)}] in the file, [{string.Join(", ", target.shape)}] in the model");
            }
        }

        var unused = tensors.Keys.Where(k => !used.Contains(k)).Order(StringComparer.Ordinal).ToList();
        return new WeightLoadReport(loaded, adapted, skipped, missing, unused);
    }

    private static bool IsGreyFromRgb(Tensor source, Tensor target) =>
        source.dim() == 4 && target.dim() == 4 && source.shape[1] == 3 && target.shape[1] == 1
        && source.shape[0] == target.shape[0] && source.shape[2] == target.shape[2] && source.shape[3] == target.shape[3];
}
