using MLNetCnn.Examples.ServingApi;

// Train a model first: dotnet run --project examples/ServingApi.DemoModel -- /tmp/model.zip
// Then serve it:      dotnet run --project examples/ServingApi -- --ModelPath /tmp/model.zip --urls http://127.0.0.1:5000
WebApplication app;
try
{
    app = ServingApp.Build(args);
}
catch (Exception e) when (e is FileNotFoundException or InvalidDataException or ServingConfigurationException)
{
    // The configuration is checked and the model loaded before the server listens: a bad value, or a missing or
    // unsuitable model, is one line and exit code 1.
    Console.Error.WriteLine($"ServingApi: {e.Message}");
    return 1;
}

await app.RunAsync();
return 0;
