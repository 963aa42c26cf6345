// Ctrl+C (SIGINT) once: training stops after the current step and the tool exits with 130, writing
// nothing; a second Ctrl+C ends the process at once.
using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    if (cancellation.IsCancellationRequested)
    {
        return;
    }

    e.Cancel = true;
    Console.Error.WriteLine();
    Console.Error.WriteLine("mlnetcnn: stopping after the current step (Ctrl+C again to stop at once).");
    cancellation.Cancel();
};
return MLNetCnn.Cli.CliApp.Run(args, Console.Out, Console.Error, cancellation.Token);
