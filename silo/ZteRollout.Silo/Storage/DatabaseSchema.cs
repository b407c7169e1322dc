using System.Data.Common;
using System.Reflection;

namespace ZteRollout.Silo.Storage;

/// <summary>The database engines the silo can keep its Orleans state in.</summary>
public enum DatabaseKind
{
    /// <summary>An embedded SQLite file (single node, localhost clustering).</summary>
    Sqlite,

    /// <summary>A PostgreSQL server (persistence, reminders and clustering).</summary>
    PostgreSql,
}

/// <summary>
/// Creates the tables the Orleans ADO.NET providers use and the <c>OrleansQuery</c> rows they read
/// their SQL from. The providers ship no SQL of their own, so this must run before the silo starts.
/// </summary>
/// <remarks>
/// The scripts are the files of <c>deploy/sqlite</c> and <c>deploy/postgresql</c>, embedded in this
/// assembly as <c>schema/sqlite/*.sql</c> and <c>schema/postgresql/*.sql</c>. Each script is
/// idempotent (create if missing, upsert rows), so every start simply runs all of them; that also
/// brings corrected query texts to an existing database.
/// </remarks>
public static class DatabaseSchema
{
    /// <summary>The schema version the embedded scripts create (each records it in <c>ZteSchemaVersion</c>).</summary>
    public const int Version = 1;

    /// <summary>The ADO.NET invariant to configure on the Orleans provider options for <paramref name="kind"/>.</summary>
    public static string InvariantFor(DatabaseKind kind) => kind switch
    {
        // Orleans 10.4.2 maps this legacy name to Microsoft.Data.SqliteFactory; it has no entry
        // for "Microsoft.Data.Sqlite" (KeyNotFoundException at silo start).
        DatabaseKind.Sqlite => "System.Data.SQLite",
        DatabaseKind.PostgreSql => "Npgsql",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown database kind."),
    };

    /// <summary>
    /// Applies every embedded schema script for <paramref name="kind"/> in file-name order, each in
    /// its own transaction, on <paramref name="openConnection"/> (which must already be open).
    /// </summary>
    public static async Task EnsureAsync(DbConnection openConnection, DatabaseKind kind, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(openConnection);

        var assembly = typeof(DatabaseSchema).Assembly;
        var prefix = kind switch
        {
            DatabaseKind.Sqlite => "schema/sqlite/",
            DatabaseKind.PostgreSql => "schema/postgresql/",
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown database kind."),
        };

        // Ordinal order of the resource names is the order of the numbered file names.
        var scripts = assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith(prefix, StringComparison.Ordinal)
                           && name.EndsWith(".sql", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();

        // No scripts means a packaging mistake; starting a silo on an empty database would only
        // fail later with a less helpful "Not all required queries found".
        if (scripts.Count == 0)
        {
            throw new InvalidOperationException(
                $"No embedded schema scripts named '{prefix}*.sql' in assembly {assembly.GetName().Name}.");
        }

        foreach (var name in scripts)
        {
            var sql = await ReadResourceAsync(assembly, name, cancellationToken);

            // One transaction per script: a failing script leaves no half-created schema behind.
            // Both Microsoft.Data.Sqlite and Npgsql run multi-statement text as one command.
            await using var transaction = await openConnection.BeginTransactionAsync(cancellationToken);
            await using (var command = openConnection.CreateCommand())
            {
                command.Transaction = transaction;
                command.CommandText = sql;
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }
    }

    private static async Task<string> ReadResourceAsync(Assembly assembly, string name, CancellationToken cancellationToken)
    {
        await using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded resource '{name}' could not be opened.");
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync(cancellationToken);
    }
}
