using System.Collections.Immutable;
using System.Data.Common;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;
using ZteRollout.Silo.Hosting;

namespace ZteRollout.Silo.Storage;

/// <summary>A registered device as its registry row holds it: tags, and facts once it has checked in.</summary>
public sealed record RegistryRow(string DeviceId, ImmutableArray<string> Tags, string? Model, string? HardwareRevision,
    string? Region, string? Carrier, string? CurrentVersion);

/// <summary>Reads of the registry and ledger tables (writes go through <see cref="GroupCommitWriter"/>).</summary>
public sealed class RowQueries(RolloutDatabase database)
{
    /// <summary>The ledger rows of one stats shard of a campaign, as the events that wrote them.</summary>
    public async Task<List<OutcomeEvent>> ReadShardLedgerAsync(string campaignId, int shard, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = RowStatements.ReadShardLedger;
        Add(command, "c", campaignId);
        Add(command, "shard", shard);
        var rows = new List<OutcomeEvent>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(RowBinding.ReadLedger(campaignId, reader));
        }

        return rows;
    }

    /// <summary>
    /// Registered devices that have reported facts, of the given models (the index narrows the scan to them);
    /// the caller applies the rest of the eligibility rules, which need firmware version ordering.
    /// </summary>
    public async IAsyncEnumerable<RegistryRow> ReadDevicesOfModelsAsync(IReadOnlyCollection<string> models,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        foreach (var model in models)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT DeviceId, Tags, Model, HardwareRevision, Region, Carrier, CurrentVersion FROM ZteDevice WHERE Model = @m";
            Add(command, "m", model);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var tags = reader.GetString(1);
                yield return new RegistryRow(
                    reader.GetString(0),
                    tags.Length == 0 ? [] : [.. tags.Split(RowBinding.TagSeparator)],
                    Text(reader, 2), Text(reader, 3), Text(reader, 4), Text(reader, 5), Text(reader, 6));
            }
        }
    }

    /// <summary>Registered devices in the registry (for operators and tests).</summary>
    public async Task<long> CountDevicesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM ZteDevice";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string? Text(DbDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetString(i);

    private static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
