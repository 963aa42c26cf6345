using System.Diagnostics;
using System.Text;

namespace MLNetCnn.Packaging.Tests;

/// <summary>Runs the dotnet CLI as a child process, with a time limit, and keeps everything it printed.</summary>
internal static class DotnetCli
{
    /// <summary>The exit code (-1 after a timeout) and stdout and stderr interleaved as they came.</summary>
    public sealed record Result(string Command, int ExitCode, string Output, TimeSpan Elapsed)
    {
        public override string ToString() => $"`{Command}` exited {ExitCode} after {Elapsed.TotalSeconds:F0} s:\n{Output}";
    }

    public static Result Run(string workingDirectory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // `dotnet test` runs us with MSBuild's variables of the outer build; a nested build must find its own.
        foreach (string key in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        // No build server outlives the command: it would hold our output pipes open.
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";

        string command = "dotnet " + string.Join(' ', arguments);
        var output = new StringBuilder();
        var clock = Stopwatch.StartNew();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new Result(command, -1, $"TIMED OUT after {timeout.TotalSeconds:F0} s\n{Snapshot(output)}", clock.Elapsed);
        }

        process.WaitForExit(); // drains the asynchronous readers
        return new Result(command, process.ExitCode, Snapshot(output), clock.Elapsed);
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    private static string Snapshot(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }
}
