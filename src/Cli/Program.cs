return MLNetCnn.Cli.CliApp.Run(args, Console.Out, Console.Error);
