using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Runtime;
using ZteRollout.Gateway.Auth;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Security;

/// <summary>
/// One embedded node with tight per-device limits (5 check-ins and reports per device, refilled once an hour, so no
/// test depends on timing; one download at a time; 2 progress reports per offer), for the hostile-device tests. Loopback keeps its exemption from
/// the per-address limit, so thousands of calls from the test process reach the device service.
/// </summary>
public sealed class SecurityNodeFixture : IAsyncLifetime
{
    public const int CallsPerDevice = 5;
    public const int ProgressReportsPerOffer = 2;

    private readonly string _dataDirectory = TestPaths.NewTempDirectory("security");

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 1, 8, 0, 0, TimeSpan.Zero));

    public EmbeddedNodeHost Node { get; private set; } = null!;

    public DeviceAuthenticator Authenticator => Node.Services.GetRequiredService<DeviceAuthenticator>();

    public DeviceTokenMac TokenMac => Node.Services.GetRequiredService<DeviceTokenMac>();

    public async Task InitializeAsync()
    {
        Node = await EmbeddedNodeHost.StartAsync(_dataDirectory, Clock,
            "--Rollout:Gateway:MaxPackageBytes=4194304",
            "--Rollout:Gateway:DownloadChunkBytes=16384",
            $"--Rollout:Gateway:RateLimits:PerDevice:TokenLimit={CallsPerDevice}",
            "--Rollout:Gateway:RateLimits:PerDevice:TokensPerPeriod=1",
            "--Rollout:Gateway:RateLimits:PerDevice:ReplenishmentPeriod=01:00:00",
            "--Rollout:Gateway:RateLimits:ConcurrentDownloadsPerDevice=1",
            $"--Rollout:Silo:MaxProgressReportsPerOffer={ProgressReportsPerOffer}");
    }

    /// <summary>Rows in every table of the node's SQLite file: grain state, registry, ledger, reminders.</summary>
    public long StorageRows()
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_dataDirectory, "rollout.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        var tables = new List<string>();
        using (var list = connection.CreateCommand())
        {
            list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";
            using var reader = list.ExecuteReader();
            while (reader.Read())
            {
                tables.Add(reader.GetString(0));
            }
        }

        long rows = 0;
        foreach (var table in tables)
        {
            using var count = connection.CreateCommand();
            count.CommandText = $"SELECT COUNT(*) FROM \"{table}\"";
            rows += (long)count.ExecuteScalar()!;
        }

        return rows;
    }

    /// <summary>Grain activations in the node's silo, all types.</summary>
    public async Task<int> ActivationsAsync()
    {
        var statistics = await Node.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return statistics.Sum(s => s.ActivationCount);
    }

    public async Task DisposeAsync()
    {
        await Node.DisposeAsync();
        TestPaths.TryDelete(_dataDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class SecurityNodeCollection : ICollectionFixture<SecurityNodeFixture>
{
    public const string Name = "security node";
}
