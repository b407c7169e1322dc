using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Faults;

/// <summary>One real PostgreSQL server for the fault tests; each test gets its own database.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private int _databases;

    public PostgresServer Server { get; private set; } = null!;

    public Task<string> NewDatabaseAsync() => Server.CreateDatabaseAsync($"zte_fault_{Interlocked.Increment(ref _databases)}");

    public async Task InitializeAsync() => Server = await PostgresServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgresql faults";
}
