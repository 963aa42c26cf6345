using MLNetCnn.Examples.ServingApi;

// dotnet run --project examples/ServingApi -- --train-demo-model model.zip   (writes a small Fashion-MNIST model)
// dotnet run --project examples/ServingApi -- --ModelPath model.zip --urls http://127.0.0.1:5000
if (args.Length == 2 && args[0] == "--train-demo-model")
{
    DemoModel.Train(args[1], epochs: 3, log: Console.WriteLine);
    return;
}

var app = ServingApp.Build(args);
await app.RunAsync();
