using ZteRollout.Silo.Host;

// The embedded default: `dotnet run --project silo/ZteRollout.Silo.Host [-- --data-dir DIR]`.
var app = await EmbeddedNode.BuildAsync(args);
await app.RunAsync();
