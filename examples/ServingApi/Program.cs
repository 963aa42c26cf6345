using MLNetCnn.Examples.ServingApi;

// Train a model first: dotnet run --project examples/ServingApi.DemoModel -- /tmp/model.zip
// Then serve it:      dotnet run --project examples/ServingApi -- --ModelPath /tmp/model.zip --urls http://127.0.0.1:5000
var app = ServingApp.Build(args);
await app.RunAsync();
