using System.Diagnostics;
using System.Globalization;
using MLNetCnn.Architectures.Weights;

/// <summary>
/// read-weights: reads one weights file (.pth, .pt or .safetensors) in this process and prints what happened and
/// the process's peak memory (VmHWM), for the hostile files of docs/untrusted-input.md.
/// </summary>
internal static class UntrustedInputBenchmarks
{
    public static int ReadWeights(IReadOnlyList<string> files)
    {
        if (files.Count != 1)
        {
            Console.Error.WriteLine("usage: read-weights <file.pth|file.safetensors>");
            return 2;
        }

        var clock = Stopwatch.StartNew();
        string outcome;
        try
        {
            var (tensors, _) = PretrainedWeights.Read(files[0]);
            outcome = $"read {tensors.Count} tensors, {tensors.Values.Sum(t => t.NumberOfElements * t.ElementSize):N0} bytes";
            foreach (var t in tensors.Values)
            {
                t.Dispose();
            }
        }
        catch (Exception e)
        {
            outcome = $"{e.GetType().Name}: {e.Message}";
        }

        string peak = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))["VmHWM:".Length..].Trim();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(files[0])} ({new FileInfo(files[0]).Length:N0} bytes): {outcome}; {clock.Elapsed.TotalSeconds:F1} s, peak RSS {peak}"));
        return 0;
    }
}
