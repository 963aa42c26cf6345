using System.Reflection;
using MLNetCnn.Architectures.Graph;
using MLNetCnn.Cli.CommandLine;
using MLNetCnn.Cli.Commands;
using MLNetCnn.Estimators;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Cli;

/// <summary>
/// The <c>mlnetcnn</c> command line: <c>train</c>, <c>predict</c>, <c>evaluate</c>, <c>summary</c> and <c>list</c>.
/// </summary>
/// <remarks>
/// Exit codes: 0 success; 1 a missing or unreadable file or folder, bad data, or a failed run; 2 a bad
/// command line (the message names the argument and what was expected, or says why the network cannot run
/// with these options); 130 cancelled (Ctrl+C). Every failure prints one line, never a stack trace unless
/// <c>--verbose</c> is given (anywhere on the line).
/// </remarks>
public static class CliApp
{
    /// <summary>The exit code of a run stopped by Ctrl+C (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;

    private static readonly (CommandSpec Spec, Func<Arguments, CommandContext, int> Run)[] Commands =
    [
        (TrainCommand.Spec, TrainCommand.Run),
        (PredictCommand.Spec, PredictCommand.Run),
        (EvaluateCommand.Spec, EvaluateCommand.Run),
        (ZooCommands.SummarySpec, ZooCommands.Summary),
        (ZooCommands.ListSpec, ZooCommands.List),
    ];

    /// <summary>Runs one command line, as the <c>mlnetcnn</c> executable does.</summary>
    /// <param name="args">The arguments after the program name, for example <c>["train", "--data", "photos", "--output", "run1"]</c>.</param>
    /// <param name="output">Where results and progress go (the console's standard output for the tool).</param>
    /// <param name="error">Where errors go (standard error for the tool).</param>
    /// <param name="cancellation">Stops a running <c>train</c> after its current step (the tool cancels it on Ctrl+C).</param>
    /// <returns>The process exit code: 0 success, 1 a failed run or missing input, 2 a bad command line, 130 cancelled.</returns>
    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        bool verbose = args.Contains(VerboseFlag);
        args = args.Where(a => a != VerboseFlag).ToArray();
        if (args.Length == 0)
        {
            error.Write(Usage());
            return 2;
        }

        if (args is ["--help" or "-h" or "help"])
        {
            output.Write(Usage());
            return 0;
        }

        if (args is ["--version"])
        {
            output.WriteLine($"mlnetcnn {Version}");
            return 0;
        }

        bool askedForHelp = args[0] == "help";
        string name = askedForHelp ? args[1] : args[0];
        var command = Commands.FirstOrDefault(c => c.Spec.Name == name);
        if (command.Spec is null)
        {
            error.WriteLine($"mlnetcnn: unknown command '{name}'. Commands: {string.Join(", ", Commands.Select(c => c.Spec.Name))}.");
            error.WriteLine("Run 'mlnetcnn --help' for usage.");
            return 2;
        }

        var rest = args.Skip(askedForHelp ? 2 : 1).ToArray();
        if (askedForHelp || rest.Contains("--help") || rest.Contains("-h"))
        {
            output.Write(command.Spec.Help());
            return 0;
        }

        try
        {
            var context = new CommandContext(output, error, "mlnetcnn " + string.Join(' ', args.Select(Quote)), cancellation);
            var arguments = Arguments.Parse(command.Spec, rest);
            using var decodeLimit = DecodeLimitOption.Apply(command.Spec, arguments);
            return command.Run(arguments, context);
        }
        catch (Exception e)
        {
            var (code, message) = Classify(e, name, cancellation);
            error.WriteLine($"mlnetcnn {name}: {OneLine(message)}");
            if (verbose)
            {
                error.WriteLine(e.ToString());
            }
            else if (code == 2)
            {
                error.WriteLine($"Run 'mlnetcnn {name} --help' for usage.");
            }
            else if (code == 1 && UserError(e) is null)
            {
                error.WriteLine($"(run with {VerboseFlag} for the stack trace)");
            }

            return code;
        }
    }

    /// <summary>The flag that adds stack traces to error messages.</summary>
    public const string VerboseFlag = "--verbose";

    /// <summary>Exit code and message of a failed command: 2 for a bad command line, 130 cancelled, else 1.</summary>
    private static (int Code, string Message) Classify(Exception e, string name, CancellationToken cancellation) => e switch
    {
        UsageException usage => (2, usage.Message),
        InputTooSmallException tooSmall => (2, tooSmall.Message),
        OperationCanceledException when cancellation.IsCancellationRequested => (Cancelled, $"cancelled. {e.Message}{(name == TrainCommand.Spec.Name ? " Nothing was written." : string.Empty)}"),
        _ when UserError(e) is { } cause => (1, $"error: {cause.Message}"),
        _ => (1, $"failed: {e.GetType().Name}: {e.Message}"),
    };

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");

    /// <summary>The package version the tool was built as, with the commit (<c>0.1.0+1a2b3c...</c>): what <c>--version</c> prints.</summary>
    internal static string Version =>
        typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(CliApp).Assembly.GetName().Version?.ToString() ?? "unknown";

    private static string Usage()
    {
        int width = Commands.Max(c => c.Spec.Name.Length) + 2;
        var lines = Commands.Select(c => "  " + c.Spec.Name.PadRight(width) + c.Spec.Summary);
        return "mlnetcnn: train, run and inspect convolutional image classifiers (ML.NET + TorchSharp + ONNX Runtime).\n\n"
            + "Usage: mlnetcnn <command> [options]\n\nCommands:\n" + string.Join('\n', lines) + "\n\n"
            + "Run 'mlnetcnn <command> --help' for a command's options; add " + VerboseFlag + " to any command for stack traces on errors;\n"
            + "'mlnetcnn --version' prints the version.\n"
            + "Exit codes: 0 success, 1 bad data or a failed run, 2 a bad command line, " + Cancelled + " cancelled (Ctrl+C).\n";
    }

    /// <summary>
    /// The exception a user can act on (a missing or bad file, a diverged run), looking through the wrappers
    /// ML.NET puts around errors raised while a cursor reads data; null for anything else (reported with its type,
    /// and its stack trace under --verbose).
    /// </summary>
    private static Exception? UserError(Exception e)
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
        {
            if (current is IOException or InvalidDataException or UnauthorizedAccessException or TrainingDivergedException or TrainingDataException)
            {
                return current;
            }
        }

        return null;
    }

    private static string Quote(string arg) => arg.Length > 0 && !arg.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'') ? arg : $"'{arg.Replace("'", "'\\''", StringComparison.Ordinal)}'";
}

/// <summary>Where a command writes, and the command line for its records.</summary>
internal sealed record CommandContext(TextWriter Output, TextWriter Error, string CommandLine, CancellationToken Cancellation = default);
