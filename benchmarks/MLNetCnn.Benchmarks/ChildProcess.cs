using System.Diagnostics;
using System.Globalization;

/// <summary>
/// Runs a benchmark's child command (this program again, in a new process: what is measured per process, such as
/// peak memory or allocator settings, starts fresh) and returns the numbers of the line it prints as
/// <c>RESULT key=value key=value ...</c>; its other output is echoed.
/// </summary>
internal static class ChildProcess
{
    /// <summary>Runs <paramref name="command"/> with <paramref name="arguments"/>; <paramref name="environment"/> sets (or, with null, removes) variables.</summary>
    public static Dictionary<string, double> Run(string command, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
        {
            start.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        }

        start.ArgumentList.Add(command);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        using var process = Process.Start(start)!;
        Dictionary<string, double>? result = null;
        while (process.StandardOutput.ReadLine() is { } line)
        {
            if (line.StartsWith("RESULT ", StringComparison.Ordinal))
            {
                result = line["RESULT ".Length..].Split(' ').Select(p => p.Split('=')).ToDictionary(p => p[0], p => double.Parse(p[1], CultureInfo.InvariantCulture));
            }
            else
            {
                Console.WriteLine(line);
            }
        }

        process.WaitForExit();
        return process.ExitCode == 0 && result is not null ? result : throw new InvalidOperationException($"The benchmark child ({string.Join(' ', start.ArgumentList)}) failed with exit code {process.ExitCode}.");
    }
}
