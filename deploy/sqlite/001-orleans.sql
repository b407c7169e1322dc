-- ZteRollout — Orleans ADO.NET schema for SQLite, schema version 1.
--
-- Covers grain persistence (Microsoft.Orleans.Persistence.AdoNet) and reminders
-- (Microsoft.Orleans.Reminders.AdoNet), both configured with the invariant "System.Data.SQLite"
-- (the provider maps it to Microsoft.Data.Sqlite). There is no clustering here: a single-node
-- silo on SQLite uses localhost clustering.
--
-- The providers ship no SQL. At start-up each one reads its statements from OrleansQuery and
-- runs them with named parameters, reading the result columns by name; those statements are
-- defined at the end of this script.
--
-- Idempotent: every object is created only if missing and every row is upserted, so the script
-- can run on each start. It contains no BEGIN/COMMIT: the caller (DatabaseSchema.EnsureAsync)
-- wraps it in one transaction. WAL mode is the caller's concern too.

CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  TEXT NOT NULL PRIMARY KEY,
    QueryText TEXT NOT NULL
);

-- Grain state, one row per (service, grain type, grain id).
-- The natural key is stored as the provider passes it: GrainIdN0/GrainIdN1 hold a Guid or
-- integer key, GrainIdExtensionString holds a string key or a key extension. A missing
-- extension is stored as '' so that the primary key (which treats NULLs as distinct) and
-- ON CONFLICT can match it. The hash columns are kept for diagnostics only; lookups go
-- through the primary key so that a change of hash function cannot hide a row.
-- PayloadBinary is NULL after a clear (the row and its version survive a clear).
CREATE TABLE IF NOT EXISTS OrleansStorage
(
    ServiceId              TEXT    NOT NULL,
    GrainTypeString        TEXT    NOT NULL,
    GrainIdN0              INTEGER NOT NULL,
    GrainIdN1              INTEGER NOT NULL,
    GrainIdExtensionString TEXT    NOT NULL,
    GrainIdHash            INTEGER NOT NULL,
    GrainTypeHash          INTEGER NOT NULL,
    PayloadBinary          BLOB    NULL,
    Version                INTEGER NOT NULL,
    ModifiedOn             TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString)
);

-- Reminders. GrainHash is the grain's uniform hash cast to a signed 32-bit integer, which is
-- how the provider passes it and how it compares range bounds. StartTime is the text form
-- Microsoft.Data.Sqlite writes for a DateTime (UTC). Period is in milliseconds.
CREATE TABLE IF NOT EXISTS OrleansRemindersTable
(
    ServiceId    TEXT    NOT NULL,
    GrainId      TEXT    NOT NULL,
    ReminderName TEXT    NOT NULL,
    StartTime    TEXT    NOT NULL,
    Period       INTEGER NOT NULL,
    GrainHash    INTEGER NOT NULL,
    Version      INTEGER NOT NULL,
    PRIMARY KEY (ServiceId, GrainId, ReminderName)
);

-- The reminder service reads by hash range for the ring range each silo owns.
CREATE INDEX IF NOT EXISTS IX_OrleansRemindersTable_ServiceId_GrainHash
    ON OrleansRemindersTable (ServiceId, GrainHash);

CREATE TABLE IF NOT EXISTS ZteSchemaVersion
(
    Component TEXT    NOT NULL PRIMARY KEY,
    Version   INTEGER NOT NULL,
    AppliedAt TEXT    NOT NULL
);

-- ---------------------------------------------------------------------------------------------
-- Persistence queries.
-- Parameters: @ServiceId, @GrainTypeString, @GrainIdN0, @GrainIdN1, @GrainIdExtensionString
-- (may be NULL), @GrainIdHash, @GrainTypeHash, @GrainStateVersion (NULL on a first write),
-- @PayloadBinary.
--
-- The provider's ETag check: the returned NewGrainStateVersion must differ from the version it
-- sent when the change applied, and must equal it (or be NULL) when it did not. Returning the
-- version currently stored on a conflict would NOT be seen as a conflict, so on a conflict we
-- echo @GrainStateVersion. Each query therefore always returns exactly one row.
--
-- changes() only reports the most recent INSERT/UPDATE/DELETE on the connection, so each query
-- makes all of its change in ONE statement (atomic on its own) and the SELECT that follows it
-- reads changes() of that statement alone; the new version is known from what was applied
-- (1 for a first write, @GrainStateVersion + 1 otherwise) without re-reading the row.
-- ---------------------------------------------------------------------------------------------

-- Read: no row at all means "never written"; a NULL payload means "cleared" (the provider then
-- reports RecordExists = false but keeps the version as the ETag).
INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadFromStorageKey', '
SELECT PayloadBinary, Version
FROM OrleansStorage
WHERE ServiceId = @ServiceId
  AND GrainTypeString = @GrainTypeString
  AND GrainIdN0 = @GrainIdN0
  AND GrainIdN1 = @GrainIdN1
  AND GrainIdExtensionString = ifnull(@GrainIdExtensionString, '''');
');

-- Write: one UPSERT covers the four cases.
--   version NULL, no row          -> the SELECT yields the candidate, it is inserted with version 1.
--   version NULL, row exists      -> conflict, the DO UPDATE guard (Version = NULL) fails: no change.
--   version N, stored version N   -> the candidate exists, conflict, guard holds: version N + 1.
--   version N, other or no row    -> the SELECT yields nothing: no change (never re-creates a
--                                    deleted row from a stale ETag).
INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('WriteToStorageKey', '
INSERT INTO OrleansStorage
    (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString,
     GrainIdHash, GrainTypeHash, PayloadBinary, Version, ModifiedOn)
SELECT @ServiceId, @GrainTypeString, @GrainIdN0, @GrainIdN1, ifnull(@GrainIdExtensionString, ''''),
       @GrainIdHash, @GrainTypeHash, @PayloadBinary, 1, CURRENT_TIMESTAMP
WHERE @GrainStateVersion IS NULL
   OR EXISTS (SELECT 1
              FROM OrleansStorage
              WHERE ServiceId = @ServiceId
                AND GrainTypeString = @GrainTypeString
                AND GrainIdN0 = @GrainIdN0
                AND GrainIdN1 = @GrainIdN1
                AND GrainIdExtensionString = ifnull(@GrainIdExtensionString, '''')
                AND Version = @GrainStateVersion)
ON CONFLICT (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString) DO UPDATE
SET PayloadBinary = excluded.PayloadBinary,
    GrainIdHash = excluded.GrainIdHash,
    GrainTypeHash = excluded.GrainTypeHash,
    Version = OrleansStorage.Version + 1,
    ModifiedOn = excluded.ModifiedOn
WHERE OrleansStorage.Version = @GrainStateVersion;

SELECT CASE WHEN changes() > 0 THEN ifnull(@GrainStateVersion, 0) + 1
            ELSE @GrainStateVersion END AS NewGrainStateVersion;
');

-- Clear (DeleteStateOnClear = false, the default): drop the payload, keep the row and bump its
-- version, so that a stale writer still conflicts afterwards. The provider reads column 0.
INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('ClearStorageKey', '
UPDATE OrleansStorage
SET PayloadBinary = NULL,
    Version = Version + 1,
    ModifiedOn = CURRENT_TIMESTAMP
WHERE ServiceId = @ServiceId
  AND GrainTypeString = @GrainTypeString
  AND GrainIdN0 = @GrainIdN0
  AND GrainIdN1 = @GrainIdN1
  AND GrainIdExtensionString = ifnull(@GrainIdExtensionString, '''')
  AND Version = @GrainStateVersion;

SELECT CASE WHEN changes() > 0 THEN @GrainStateVersion + 1
            ELSE @GrainStateVersion END AS NewGrainStateVersion;
');

-- Delete (DeleteStateOnClear = true): remove the row when the version matches. On success the
-- provider only needs a value different from the version it sent (it then resets the ETag to
-- NULL, so the next write is a first write).
INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteStorageKey', '
DELETE FROM OrleansStorage
WHERE ServiceId = @ServiceId
  AND GrainTypeString = @GrainTypeString
  AND GrainIdN0 = @GrainIdN0
  AND GrainIdN1 = @GrainIdN1
  AND GrainIdExtensionString = ifnull(@GrainIdExtensionString, '''')
  AND Version = @GrainStateVersion;

SELECT CASE WHEN changes() > 0 THEN @GrainStateVersion + 1
            ELSE @GrainStateVersion END AS NewGrainStateVersion;
');

-- ---------------------------------------------------------------------------------------------
-- Reminder queries.
-- Parameters: @ServiceId, @GrainId, @ReminderName, @StartTime, @Period (ms), @GrainHash,
-- @Version, @BeginHash, @EndHash. Rows are read as GrainId, ReminderName, StartTime, Period,
-- Version.
-- ---------------------------------------------------------------------------------------------

-- Upsert has no ETag check (last writer wins); it returns the row's new version as its ETag.
INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('UpsertReminderRowKey', '
INSERT INTO OrleansRemindersTable (ServiceId, GrainId, ReminderName, StartTime, Period, GrainHash, Version)
VALUES (@ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash, 1)
ON CONFLICT (ServiceId, GrainId, ReminderName) DO UPDATE
SET StartTime = excluded.StartTime,
    Period = excluded.Period,
    GrainHash = excluded.GrainHash,
    Version = OrleansRemindersTable.Version + 1
RETURNING Version AS Version;
');

INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadReminderRowsKey', '
SELECT GrainId, ReminderName, StartTime, Period, Version
FROM OrleansRemindersTable
WHERE ServiceId = @ServiceId
  AND GrainId = @GrainId;
');

INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadReminderRowKey', '
SELECT GrainId, ReminderName, StartTime, Period, Version
FROM OrleansRemindersTable
WHERE ServiceId = @ServiceId
  AND GrainId = @GrainId
  AND ReminderName = @ReminderName;
');

-- Used when BeginHash < EndHash as signed integers: the range (BeginHash, EndHash].
INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadRangeRows1Key', '
SELECT GrainId, ReminderName, StartTime, Period, Version
FROM OrleansRemindersTable
WHERE ServiceId = @ServiceId
  AND GrainHash > @BeginHash
  AND GrainHash <= @EndHash;
');

-- Otherwise the range wraps around the ring.
INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadRangeRows2Key', '
SELECT GrainId, ReminderName, StartTime, Period, Version
FROM OrleansRemindersTable
WHERE ServiceId = @ServiceId
  AND (GrainHash > @BeginHash OR GrainHash <= @EndHash);
');

-- Delete with ETag check; the provider expects one row with one column, non-zero = deleted.
INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteReminderRowKey', '
DELETE FROM OrleansRemindersTable
WHERE ServiceId = @ServiceId
  AND GrainId = @GrainId
  AND ReminderName = @ReminderName
  AND Version = @Version;

SELECT changes() AS DeletedCount;
');

INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteReminderRowsKey', '
DELETE FROM OrleansRemindersTable
WHERE ServiceId = @ServiceId;
');

-- ---------------------------------------------------------------------------------------------
-- Record the schema version last.
-- ---------------------------------------------------------------------------------------------
INSERT INTO ZteSchemaVersion (Component, Version, AppliedAt)
VALUES ('orleans', 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
ON CONFLICT (Component) DO UPDATE
SET Version = excluded.Version,
    AppliedAt = excluded.AppliedAt;
