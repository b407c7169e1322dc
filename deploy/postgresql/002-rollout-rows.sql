-- ZteRollout — our own tables for the hot path (PostgreSQL), schema version 2.
--
-- The hot grains (devices) do not go through the Orleans ADO.NET persistence provider: they write through
-- ZteRollout's group-commit grain storage (silo/ZteRollout.Silo/Storage), which puts the writes of many grains
-- in one transaction (sent as one batch). Everything a device write changes lives in the three tables below and is
-- written in that same transaction: the device's state blob, its registry row, and its row in each campaign's ledger.
-- The statements are in the silo's code (one text for SQLite and PostgreSQL); this script only creates the tables.
--
-- Idempotent, like 001: it runs at every start inside one transaction.

-- A hot grain's state: one row per grain, an opaque Orleans-serialized payload and an integer version that is the
-- grain's ETag. The database belongs to one service: the key is the grain id alone.
CREATE TABLE IF NOT EXISTS ZteGrainState
(
    GrainKey text    NOT NULL PRIMARY KEY,
    Version  integer NOT NULL,
    Payload  bytea   NOT NULL
);

-- The device registry: one row per registered device with the facts that decide eligibility as columns.
-- LastSeenAt is Unix milliseconds; tags are stored one per line.
CREATE TABLE IF NOT EXISTS ZteDevice
(
    DeviceId         text   NOT NULL PRIMARY KEY,
    Tags             text   NOT NULL,
    Model            text   NULL,
    HardwareRevision text   NULL,
    Region           text   NULL,
    Carrier          text   NULL,
    CurrentVersion   text   NULL,
    LastSeenAt       bigint NULL
);

CREATE INDEX IF NOT EXISTS IX_ZteDevice_Model_CurrentVersion ON ZteDevice (Model, CurrentVersion);
CREATE INDEX IF NOT EXISTS IX_ZteDevice_Region_Carrier ON ZteDevice (Region, Carrier);

-- A campaign's ledger: each device's latest counted status in the campaign, replaced only by a higher Sequence.
CREATE TABLE IF NOT EXISTS ZteCampaignDevice
(
    CampaignId       text     NOT NULL,
    DeviceId         text     NOT NULL,
    Shard            integer  NOT NULL,
    Sequence         bigint   NOT NULL,
    Outcome          integer  NOT NULL,
    Stage            integer  NOT NULL,
    ErrorCode        text     NULL,
    FailedAttempts   integer  NOT NULL,
    LastFailureCode  text     NULL,
    OfferId          text     NULL,
    Deadline         bigint   NULL,
    RetryPending     integer  NOT NULL,
    Model            text     NOT NULL,
    HardwareRevision text     NOT NULL,
    Region           text     NOT NULL,
    Carrier          text     NOT NULL,
    SourceVersion    text     NOT NULL,
    PRIMARY KEY (CampaignId, DeviceId)
);

CREATE INDEX IF NOT EXISTS IX_ZteCampaignDevice_Shard ON ZteCampaignDevice (CampaignId, Shard);

INSERT INTO ZteSchemaVersion (Component, Version, AppliedAt)
VALUES ('rollout-rows', 2, now())
ON CONFLICT (Component) DO UPDATE
SET Version = excluded.Version,
    AppliedAt = excluded.AppliedAt;
