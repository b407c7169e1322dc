using ZteRollout.Silo.Host;

// `dotnet run --project silo/ZteRollout.Silo.Host [-- --data-dir DIR]`  the embedded default
// `... -- --role silo --Rollout:Database:Kind=postgresql --Rollout:Database:ConnectionString=...`  one silo of a cluster
// `... -- migrate [same database options]`  applies the schema and exits
if (args.Length > 0 && args[0] == "migrate")
{
    await EmbeddedNode.MigrateAsync(args[1..], Console.Out);
    return;
}

var app = await EmbeddedNode.BuildAsync(args);
await app.RunAsync();
