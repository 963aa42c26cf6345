using MLNetCnn.Examples.ServingApi;

// dotnet run --project examples/ServingApi.DemoModel -- /tmp/model.zip   (a small Fashion-MNIST model on PNG bytes)
if (args.Length != 1)
{
    Console.Error.WriteLine("usage: ServingApi.DemoModel <model.zip>");
    return 2;
}

DemoModel.Train(args[0], epochs: 3, log: Console.WriteLine);
return 0;
