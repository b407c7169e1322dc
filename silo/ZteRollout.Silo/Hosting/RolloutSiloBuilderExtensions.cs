using ZteRollout.Shared;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.Runtime.Hosting;
using Microsoft.Extensions.Options;
using ZteRollout.Silo.Campaigns;
using ZteRollout.Silo.Packages;
using ZteRollout.Silo.Storage;

namespace ZteRollout.Silo.Hosting;

/// <summary>Where grain state and reminders are stored.</summary>
public sealed record RolloutDatabase(DatabaseKind Kind, string ConnectionString)
{
    /// <summary>The embedded default: one SQLite file in the data directory.</summary>
    public static RolloutDatabase SqliteFile(string path) => new(DatabaseKind.Sqlite, $"Data Source={path};Default Timeout=30");

    /// <summary>An open connection for queries (on SQLite in WAL mode, reads run beside the writer).</summary>
    public async Task<System.Data.Common.DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        System.Data.Common.DbConnection connection = Kind == DatabaseKind.Sqlite
            ? new Microsoft.Data.Sqlite.SqliteConnection(ConnectionString)
            : new Npgsql.NpgsqlConnection(ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates or upgrades our schema (idempotent), and for SQLite switches the file to WAL.</summary>
    public async Task PrepareAsync(CancellationToken cancellationToken)
    {
        if (Kind == DatabaseKind.Sqlite)
        {
            await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(ConnectionString);
            await connection.OpenAsync(cancellationToken);
            await using (var wal = connection.CreateCommand())
            {
                // WAL lets readers run beside the writer; synchronous stays FULL so an ack survives power loss.
                wal.CommandText = "PRAGMA journal_mode=WAL;";
                await wal.ExecuteNonQueryAsync(cancellationToken);
            }

            await DatabaseSchema.EnsureAsync(connection, Kind, cancellationToken);
        }
        else
        {
            await using var connection = new Npgsql.NpgsqlConnection(ConnectionString);
            await connection.OpenAsync(cancellationToken);
            await DatabaseSchema.EnsureAsync(connection, Kind, cancellationToken);
        }
    }
}

public static class RolloutSiloBuilderExtensions
{
    /// <summary>
    /// Adds ZteRollout's grains' services and storage to a silo: grain state and reminders through the Orleans ADO.NET
    /// providers (the binary Orleans serializer, so persisted types follow the same [Id] contract as messages).
    /// Clustering is the caller's choice (localhost for the embedded node, ADO.NET for a cluster).
    /// </summary>
    public static ISiloBuilder AddZteRollout(this ISiloBuilder silo, RolloutDatabase database, IConfiguration? configuration = null)
    {
        var invariant = DatabaseSchema.InvariantFor(database.Kind);
        silo.AddAdoNetGrainStorage(RolloutStorage.Name, options =>
        {
            options.Invariant = invariant;
            options.ConnectionString = database.ConnectionString;
        });
        silo.Services.AddOptions<AdoNetGrainStorageOptions>(RolloutStorage.Name)
            .Configure<Serializer>((options, serializer) => options.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer));
        silo.UseAdoNetReminderService(options =>
        {
            options.Invariant = invariant;
            options.ConnectionString = database.ConnectionString;
        });

        var services = silo.Services;

        // The hot grains' storage: group commit on the same database (see docs/design.md, "Storage").
        services.AddSingleton(database);
        var storageOptions = new GroupCommitOptions();
        configuration?.GetSection(GroupCommitOptions.Section).Bind(storageOptions);
        services.AddSingleton(storageOptions);
        services.AddSingleton<GroupCommitWriter>();
        services.AddSingleton<RowQueries>();
        services.AddGrainStorage(RolloutStorage.Hot, (sp, _) =>
            new GroupCommitGrainStorage(sp.GetRequiredService<GroupCommitWriter>(), sp.GetRequiredService<Serializer>()));

        // A storage failure must reach the caller as what it is (the gateway answers Unavailable), not as a
        // serialization error: let Orleans carry the database drivers' exceptions.
        services.Configure<ExceptionSerializationOptions>(o => { o.SupportedNamespacePrefixes.Add("Npgsql"); o.SupportedNamespacePrefixes.Add("Polly"); });
        var siloOptions = services.AddOptions<RolloutSiloOptions>();
        if (configuration is not null)
        {
            siloOptions.Bind(configuration.GetSection(RolloutSiloOptions.Section));
        }

        // Device grains leave memory when idle: a node keeps every registered device in the database, and in memory
        // only those that called recently.
        services.AddOptions<GrainCollectionOptions>().Configure<IOptions<RolloutSiloOptions>>((collection, rollout) =>
            collection.ClassSpecificCollectionAge[typeof(Devices.DeviceGrain).FullName!] = rollout.Value.DeviceIdleTime);

        silo.AddIncomingGrainCallFilter<StorageFailureFilter>();
        services.TryAddSingleton(RolloutClock.System);
        var signingOptions = services.AddOptions<SigningOptions>()
            .Validate(o => o.OnlineManifestLifetime > TimeSpan.Zero, $"{SigningOptions.Section}:OnlineManifestLifetime must be positive")
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SigningOptions>, SigningOptionsValidator>());
        if (configuration is not null)
        {
            signingOptions.Bind(configuration.GetSection(SigningOptions.Section));
        }

        services.AddSingleton<ManifestSigner>();
        services.AddSingleton<SnapshotCache>();
        services.AddSingleton<OfferRateLimiter>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SnapshotCache>());

        // Server-side deltas (docs/manifest.md, "Delta packages"): built on this silo's thread pool, within a budget.
        var deltaOptions = services.AddOptions<DeltaOptions>()
            .Validate(o => o.PreviousVersions >= 0, $"{DeltaOptions.Section}:PreviousVersions must not be negative")
            .Validate(o => o.MaxShareOfFull is > 0 and <= 1, $"{DeltaOptions.Section}:MaxShareOfFull must be in (0, 1]")
            .Validate(o => o.MaxConcurrent >= 1, $"{DeltaOptions.Section}:MaxConcurrent must be at least 1")
            .Validate(o => o.MemoryBudgetBytes > 0, $"{DeltaOptions.Section}:MemoryBudgetBytes must be positive")
            .Validate(o => o.MaxWindowLog is >= 10 and <= Shared.Packages.ZstdPatch.MaxWindowLog,
                $"{DeltaOptions.Section}:MaxWindowLog must be 10 to {Shared.Packages.ZstdPatch.MaxWindowLog}");
        if (configuration is not null)
        {
            deltaOptions.Bind(configuration.GetSection(DeltaOptions.Section));

            // One blob directory for uploads and generated deltas: the gateway's setting unless the silo names one.
            deltaOptions.PostConfigure(o => o.BlobDirectory ??= configuration["Rollout:Gateway:BlobDirectory"]);
        }

        services.AddSingleton<DeltaBuilder>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<DeltaBuilder>());
        return silo;
    }
}
