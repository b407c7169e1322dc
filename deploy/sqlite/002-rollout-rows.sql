-- ZteRollout — our own tables for the hot path (SQLite), schema version 2.
--
-- The hot grains (devices) do not go through the Orleans ADO.NET persistence provider: they write through
-- ZteRollout's group-commit grain storage (silo/ZteRollout.Silo/Storage), which puts the writes of many grains
-- in one transaction. Everything a device write changes lives in the three tables below and is written in that
-- same transaction: the device's state blob, its row in the device registry, and its row in each campaign's ledger.
-- The statements are in the silo's code (one text for SQLite and PostgreSQL); this script only creates the tables.
--
-- Idempotent, like 001: it runs at every start inside one transaction.

-- A hot grain's state: one row per grain, an opaque Orleans-serialized payload and an integer version that is the
-- grain's ETag (a write names the version it read; a write that finds another version is refused for that grain only).
-- The database belongs to one service: the key is the grain id alone.
CREATE TABLE IF NOT EXISTS ZteGrainState
(
    GrainKey TEXT    NOT NULL PRIMARY KEY,
    Version  INTEGER NOT NULL,
    Payload  BLOB    NOT NULL
) WITHOUT ROWID;

-- The device registry ("deployment database"): one row per registered device with the facts that decide eligibility
-- as columns, so a dry run or an eligible count is a query. Written with the device's state when its identity facts
-- change; LastSeenAt (Unix milliseconds) is refreshed at most every few minutes, in a batch, off the check-in path.
-- Tags are stored one per line.
CREATE TABLE IF NOT EXISTS ZteDevice
(
    DeviceId         TEXT    NOT NULL PRIMARY KEY,
    Tags             TEXT    NOT NULL,
    Model            TEXT    NULL,
    HardwareRevision TEXT    NULL,
    Region           TEXT    NULL,
    Carrier          TEXT    NULL,
    CurrentVersion   TEXT    NULL,
    LastSeenAt       INTEGER NULL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS IX_ZteDevice_Model_CurrentVersion ON ZteDevice (Model, CurrentVersion);
CREATE INDEX IF NOT EXISTS IX_ZteDevice_Region_Carrier ON ZteDevice (Region, Carrier);

-- A campaign's ledger: each device's latest counted status in the campaign (the exactly-once record). A row is
-- replaced only by an event with a higher per-device Sequence, so retries and replays change nothing. Counts are
-- derived from these rows; Shard is the device's stats shard, so a shard loads its rows with one index range.
-- Deadline is Unix milliseconds; RetryPending is 0 or 1.
CREATE TABLE IF NOT EXISTS ZteCampaignDevice
(
    CampaignId       TEXT    NOT NULL,
    DeviceId         TEXT    NOT NULL,
    Shard            INTEGER NOT NULL,
    Sequence         INTEGER NOT NULL,
    Outcome          INTEGER NOT NULL,
    Stage            INTEGER NOT NULL,
    ErrorCode        TEXT    NULL,
    FailedAttempts   INTEGER NOT NULL,
    LastFailureCode  TEXT    NULL,
    OfferId          TEXT    NULL,
    Deadline         INTEGER NULL,
    RetryPending     INTEGER NOT NULL,
    Model            TEXT    NOT NULL,
    HardwareRevision TEXT    NOT NULL,
    Region           TEXT    NOT NULL,
    Carrier          TEXT    NOT NULL,
    SourceVersion    TEXT    NOT NULL,
    PRIMARY KEY (CampaignId, DeviceId)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS IX_ZteCampaignDevice_Shard ON ZteCampaignDevice (CampaignId, Shard);

INSERT INTO ZteSchemaVersion (Component, Version, AppliedAt)
VALUES ('rollout-rows', 2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
ON CONFLICT (Component) DO UPDATE
SET Version = excluded.Version,
    AppliedAt = excluded.AppliedAt;
