using ZteRollout.Shared;
using System.Collections.Immutable;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using Orleans.Placement;
using ZteRollout.Silo.Campaigns;
using ZteRollout.Silo.Storage;

namespace ZteRollout.Silo.Devices;

/// <summary>
/// A device's stored state: small and bounded (one open offer, a few finished ones without manifests, a window of
/// report ids per offer), so a write costs the same for every device. It carries the registry and ledger rows its
/// next write must store with it (<see cref="IRowCarrier"/>); those are not part of the blob.
/// </summary>
[GenerateSerializer, Alias("zte.DeviceState")]
public sealed class DeviceState : IRowCarrier
{
    [NonSerialized]
    private List<RowChange>? _rows;

    /// <summary>Adds a row for the next write of this state to store in the same transaction.</summary>
    public void AddRow(RowChange row) => (_rows ??= []).Add(row);

    public IReadOnlyList<RowChange> TakeRows()
    {
        var rows = (IReadOnlyList<RowChange>?)_rows ?? [];
        _rows = null;
        return rows;
    }

    public void RestoreRows(IReadOnlyList<RowChange> rows)
    {
        if (rows.Count > 0)
        {
            (_rows ??= []).InsertRange(0, rows);
        }
    }

    [Id(0)]
    public bool Registered { get; set; }

    [Id(1)]
    public byte[] CredentialHash { get; set; } = [];

    [Id(2)]
    public ImmutableArray<string> Tags { get; set; } = [];

    [Id(3)]
    public DeviceFacts? Facts { get; set; }

    [Id(4)]
    public DateTimeOffset? LastCheckIn { get; set; }

    /// <summary>The open offer, or the last one when none is open.</summary>
    [Id(5)]
    public OfferRecord? Offer { get; set; }

    /// <summary>Earlier offers, newest first.</summary>
    [Id(6)]
    public List<OfferRecord> History { get; set; } = [];

    [Id(7)]
    public string? CurrentVersion { get; set; }

    [Id(8)]
    public BootSlot ActiveSlot { get; set; }

    /// <summary>Sequence of the last outcome event; events carry it so campaigns count each change once.</summary>
    [Id(9)]
    public long OutcomeSequence { get; set; }

    // Id 10 held an outbox of outcome events; they are now stored as ledger rows in the same write. Not to be reused.

    /// <summary>The latest counted outcome per campaign.</summary>
    [Id(11)]
    public Dictionary<string, DeviceOutcome> Outcomes { get; set; } = [];

    [Id(12)]
    public long OfferCounter { get; set; }

    // Id 13 held when facts were last stored; last-seen now goes to the registry row. Not to be reused.

    /// <summary>Offers made per campaign and the last failure, for the retry budget and backoff.</summary>
    [Id(14)]
    public Dictionary<string, CampaignAttempts> Attempts { get; set; } = [];
}

/// <summary>How often a campaign offered the device its update, and how the last failure went.</summary>
[GenerateSerializer, Immutable, Alias("zte.CampaignAttempts")]
public sealed record CampaignAttempts(
    [property: Id(0)] int Offers,
    [property: Id(1)] DateTimeOffset? LastFailureAt,
    [property: Id(2)] string? LastErrorCode)
{
    /// <summary>Failed attempts (FAILED, ROLLED_BACK, TIMED_OUT) so far; the ledger row carries it.</summary>
    [Id(3)]
    public int Failures { get; init; }
}

/// <summary>
/// One device. Decides check-ins on its own from the silo's campaign snapshot, owns its one offer,
/// validates its reports, and hands outcome events to the campaign's stats shards through a stored outbox
/// (the change and its event are written together; delivery is retried until acknowledged).
/// Placed at random: device grains are many, small and equally busy, so random placement spreads them evenly
/// without the load sampling that resource-based placement needs.
/// </summary>
[RandomPlacement]
public sealed class DeviceGrain(
    [PersistentState("device", RolloutStorage.Hot)] IPersistentState<DeviceState> state,
    SnapshotCache snapshots,
    OfferRateLimiter rateLimiter,
    GroupCommitWriter writer,
    RolloutClock clock,
    IOptions<RolloutSiloOptions> options,
    ILogger<DeviceGrain> logger) : Grain, IDeviceGrain
{
    /// <summary>Last-seen goes to the registry row at most this often, off the check-in's path.</summary>
    private static readonly TimeSpan LastSeenInterval = TimeSpan.FromMinutes(10);

    /// <summary>Report ids remembered per offer: enough for any agent's retries of its recent reports.</summary>
    private const int ReportIdsKept = 16;
    private IGrainTimer? _outboxTimer;
    private DateTimeOffset? _lastSeenPosted;

    // Outcome events whose ledger rows are stored but that the campaign's stats shard has not counted yet. Memory
    // only: the rows are the record, and a shard re-reads its rows, so an event lost with this silo is still counted.
    private readonly List<OutcomeEvent> _outbox = [];

    // This device's bucket per campaign salt: fixed for a campaign's life, so computed once per activation.
    private readonly Dictionary<string, int> _buckets = new(StringComparer.Ordinal);

    private string? _deviceId;

    private string DeviceId => _deviceId ??= GrainKeys.DeviceIdOf(this.GetPrimaryKeyString());

    private DeviceState S => state.State;

    public async Task RegisterAsync(byte[] credentialHash, ImmutableArray<string> tags, bool rotate)
    {
        if (S.Registered && !rotate)
        {
            throw RolloutException.AlreadyExists($"device '{DeviceId}' is already registered");
        }

        // A rotation without tags keeps the device's tags: issuing a credential should not change who it is.
        var keepTags = S.Registered && rotate && tags.IsDefaultOrEmpty;
        S.Registered = true;
        S.CredentialHash = credentialHash;
        S.Tags = keepTags ? S.Tags : tags;
        S.AddRow(new DeviceRowChange(DeviceId, S.Tags, S.Facts));
        await state.WriteStateAsync();
    }

    public Task<bool> IsRegisteredAsync() => Task.FromResult(S.Registered);

    public Task<bool> VerifyCredentialAsync(byte[] presentedHash) =>
        Task.FromResult(S.Registered && DeviceIdentity.SecretMatches(S.CredentialHash, presentedHash));

    public async Task<CheckInResult?> CheckInWithCredentialAsync(byte[] presentedHash, DeviceFacts facts) =>
        S.Registered && DeviceIdentity.SecretMatches(S.CredentialHash, presentedHash) ? await CheckInAsync(facts) : null;

    public async Task<CheckInResult> CheckInAsync(DeviceFacts facts)
    {
        RequireRegistered();
        var now = clock.UtcNow;
        var identityChanged = S.Facts is null || facts.IdentityDiffers(S.Facts);
        var dirty = identityChanged;
        if (!facts.Equals(S.Facts))
        {
            // Keeping the stored instance when nothing changed spares the GC a long-lived grain pointing at a new
            // object on every check-in.
            S.Facts = facts;
        }

        S.LastCheckIn = now;
        if (S.CurrentVersion is null || facts.CurrentVersion != S.CurrentVersion)
        {
            // The device is the authority on what it runs (it may have been flashed outside any campaign).
            S.CurrentVersion = facts.CurrentVersion;
            S.ActiveSlot = facts.ActiveSlot;
        }

        if (identityChanged)
        {
            S.AddRow(new DeviceRowChange(DeviceId, S.Tags, facts));
        }

        if (_lastSeenPosted is null || now - _lastSeenPosted >= LastSeenInterval)
        {
            // Nobody waits for it: it rides along with the next group commit.
            writer.Post(new LastSeenChange(DeviceId, now));
            _lastSeenPosted = now;
        }

        var snapshot = await snapshots.GetAsync();
        var sequenceBefore = S.OutcomeSequence;
        if (S.Offer is { } open && !InstallLifecycle.IsTerminal(open.Status))
        {
            if (now > open.Deadline)
            {
                Close(OfferStatus.TimedOut, TimedOutCode, now);
                dirty = true;
            }
            else if (open.Status == OfferStatus.Offered && !snapshot.Campaigns.Any(c => c.CampaignId == open.CampaignId))
            {
                // Its campaign was cancelled before the download started: the offer goes with it.
                Close(OfferStatus.Canceled, null, now);
                dirty = true;
            }
            else
            {
                await StoreAndDeliverIfAsync(dirty);
                return new CheckInResult(CheckInOutcome.Offer, open, null, null, CheckInInterval);
            }
        }

        var check = OfferSelection.Decide(new DeviceContext(DeviceId, S.Tags, facts), snapshot, c => MayOffer(c, now), _buckets);
        foreach (var (campaign, stage) in check.Waiting)
        {
            if (!S.Outcomes.ContainsKey(campaign.CampaignId))
            {
                // Counted once as eligible-seen; the campaign learns the device exists before exposing it.
                Enqueue(campaign.CampaignId, DeviceOutcome.Waiting, null, stage);
            }
        }

        switch (check.Decision)
        {
            case OfferDecision.Offer offer when rateLimiter.TryAcquire(offer.Campaign):
                var record = NewOffer(offer, now);
                S.Offer = record;
                S.Attempts[offer.Campaign.CampaignId] = S.Attempts.GetValueOrDefault(offer.Campaign.CampaignId) is { } a
                    ? a with { Offers = a.Offers + 1 }
                    : new CampaignAttempts(1, null, null);
                Enqueue(offer.Campaign.CampaignId, DeviceOutcome.Offered, null, offer.Stage);
                await StoreAndDeliverAsync();
                if (!StillExposed(offer.Campaign.CampaignId))
                {
                    // The campaign was halted, paused or frozen while this offer was being stored: withdraw it
                    // rather than hand out an offer decided on a snapshot that is no longer true.
                    Close(OfferStatus.Canceled, null, clock.UtcNow);
                    await StoreAndDeliverAsync();
                    return new CheckInResult(CheckInOutcome.NoUpdate, null, null, null, CheckInInterval);
                }

                return new CheckInResult(CheckInOutcome.Offer, record, null, null, CheckInInterval);

            case OfferDecision.Offer:
                // Over the campaign's offer rate: ask again soon rather than at the normal interval.
                await StoreAndDeliverIfAsync(dirty || S.OutcomeSequence != sequenceBefore);
                return new CheckInResult(CheckInOutcome.NoUpdate, null, null, null, Math.Min(CheckInInterval, RateLimitedRetrySeconds));

            case OfferDecision.Defer defer:
                if (S.Outcomes.GetValueOrDefault(defer.Campaign.CampaignId) != DeviceOutcome.Deferred)
                {
                    Enqueue(defer.Campaign.CampaignId, DeviceOutcome.Deferred, null, defer.Stage);
                }

                await StoreAndDeliverIfAsync(dirty || S.OutcomeSequence != sequenceBefore);
                return new CheckInResult(CheckInOutcome.Deferred, null, defer.Reason, defer.Detail, CheckInInterval);

            default:
                await StoreAndDeliverIfAsync(dirty || S.OutcomeSequence != sequenceBefore);
                return new CheckInResult(CheckInOutcome.NoUpdate, null, null, null, CheckInInterval);
        }
    }

    public async Task ExpireOfferAsync(string offerId)
    {
        if (S.Offer is { } open && open.OfferId == offerId && !InstallLifecycle.IsTerminal(open.Status) && clock.UtcNow > open.Deadline)
        {
            Close(OfferStatus.TimedOut, TimedOutCode, clock.UtcNow);
            await StoreAndDeliverAsync();
        }
    }

    public Task<DownloadGrant> AuthorizeDownloadAsync(string offerId, long offset)
    {
        RequireRegistered();
        if (S.Offer is not { } offer || offer.OfferId != offerId)
        {
            throw RolloutException.PermissionDenied($"device '{DeviceId}' holds no offer '{offerId}'");
        }

        if (InstallLifecycle.IsTerminal(offer.Status))
        {
            throw RolloutException.FailedPrecondition($"offer '{offerId}' is {Name(offer.Status)}; downloads need an open offer");
        }

        if (clock.UtcNow > offer.Deadline)
        {
            throw RolloutException.FailedPrecondition($"offer '{offerId}' passed its deadline {offer.Deadline:O}; check in again");
        }

        if (offset > offer.Size)
        {
            throw RolloutException.OutOfRange($"offset {offset} is past the end of package '{offer.PackageId}' ({offer.Size} bytes)");
        }

        return Task.FromResult(new DownloadGrant(offer.Sha256, offer.Size));
    }

    public async Task<ReportResult> ReportAsync(DeviceReport report)
    {
        RequireRegistered();
        if (S.Offer is not { } offer || offer.OfferId != report.OfferId)
        {
            if (S.History.FirstOrDefault(h => h.OfferId == report.OfferId) is { } old)
            {
                if (old.AppliedReportIds.Contains(report.ReportId))
                {
                    return new ReportResult(old.Status, Duplicate: true);
                }

                throw RolloutException.FailedPrecondition($"offer '{old.OfferId}' is {Name(old.Status)}; it takes no more reports");
            }

            throw RolloutException.NotFound($"device '{DeviceId}' has no offer '{report.OfferId}'");
        }

        if (offer.AppliedReportIds.Contains(report.ReportId))
        {
            return new ReportResult(offer.Status, Duplicate: true);
        }

        if (report.Step == OfferStatus.Downloading && offer.Status == OfferStatus.Downloading)
        {
            // Progress within the download changes nothing that must survive a crash (the device resumes from its own
            // offset): kept in memory, acknowledged without a transaction, stored with the next real change.
            S.Offer = offer with
            {
                BytesDownloaded = Math.Max(offer.BytesDownloaded, report.BytesDownloaded),
                UpdatedAt = clock.UtcNow,
                AppliedReportIds = Remember(offer.AppliedReportIds, report.ReportId),
            };
            return new ReportResult(offer.Status, Duplicate: false);
        }

        if (!InstallLifecycle.CanMove(offer.Status, report.Step))
        {
            throw RolloutException.FailedPrecondition(
                $"offer '{offer.OfferId}' is {Name(offer.Status)}; it cannot move to {Name(report.Step)}");
        }

        if (report.Step == OfferStatus.Succeeded && report.RunningVersion is { Length: > 0 } running && running != offer.TargetVersion)
        {
            throw RolloutException.InvalidField("running_version",
                $"device reports SUCCEEDED running '{running}' but offer '{offer.OfferId}' installs '{offer.TargetVersion}'; report ROLLED_BACK or FAILED instead");
        }

        var now = clock.UtcNow;
        var before = OutcomeEvent.FromStatus(offer.Status);
        S.Offer = offer with
        {
            Status = report.Step,
            BytesDownloaded = Math.Max(offer.BytesDownloaded, report.Step == OfferStatus.Downloaded ? offer.Size : report.BytesDownloaded),
            ErrorCode = InstallLifecycle.IsFailure(report.Step) ? report.ErrorCode ?? "E_UNSPECIFIED" : offer.ErrorCode,
            UpdatedAt = now,
            AppliedReportIds = Remember(offer.AppliedReportIds, report.ReportId),
        };

        if (report.Step == OfferStatus.Succeeded)
        {
            S.CurrentVersion = offer.TargetVersion;
            S.ActiveSlot = report.ActiveSlot != BootSlot.Unspecified ? report.ActiveSlot : Other(S.ActiveSlot);
            S.Facts = S.Facts is null ? null : S.Facts with { CurrentVersion = offer.TargetVersion, ActiveSlot = S.ActiveSlot };
        }

        var after = OutcomeEvent.FromStatus(report.Step);
        if (after != before)
        {
            Enqueue(offer.CampaignId, after, S.Offer.ErrorCode, offer.Stage);
        }

        // Ack means durable: the report and its outcome event are stored before the device hears back.
        await StoreAndDeliverAsync();
        return new ReportResult(S.Offer.Status, Duplicate: false);
    }

    public Task<DeviceView> GetViewAsync()
    {
        RequireRegistered();
        return Task.FromResult(new DeviceView(DeviceId, S.Tags, S.Facts, S.LastCheckIn, S.Offer, [.. S.History], S.CurrentVersion, S.ActiveSlot));
    }

    private const string TimedOutCode = "E_TIMED_OUT";
    private const int RateLimitedRetrySeconds = 30;

    private int CheckInInterval => options.Value.CheckInIntervalSeconds;

    private static string Name<T>(T value)
        where T : struct, Enum => value switch
        {
            OfferStatus.RolledBack => "ROLLED_BACK",
            OfferStatus.TimedOut => "TIMED_OUT",
            _ => value.ToString().ToUpperInvariant(),
        };

    private static BootSlot Other(BootSlot slot) => slot == BootSlot.A ? BootSlot.B : BootSlot.A;

    private static ImmutableArray<string> Remember(ImmutableArray<string> ids, string id)
    {
        var next = ids.IsDefault ? [id] : ids.Add(id);
        return next.Length > ReportIdsKept ? next.RemoveAt(0) : next;
    }

    private void RequireRegistered()
    {
        if (!S.Registered)
        {
            throw RolloutException.NotFound($"device '{DeviceId}' is not registered");
        }
    }

    /// <summary>Whether the silo's newest snapshot still lets the campaign make offers to this device.</summary>
    private bool StillExposed(string campaignId) =>
        snapshots.Current is { } now && !now.Frozen && now.Campaigns.FirstOrDefault(c => c.CampaignId == campaignId) is { } campaign
        && Bucketing.IsExposed(Bucketing.BucketOf(campaign.Salt, DeviceId), campaign.ExposurePercent);

    /// <summary>
    /// Whether the campaign may offer the device its update now: never after a success; after a failure only while
    /// the retry budget lasts, for a retryable error code, once the backoff has passed.
    /// </summary>
    private bool MayOffer(ActiveCampaign campaign, DateTimeOffset now)
    {
        var last = S.Outcomes.GetValueOrDefault(campaign.CampaignId);
        if (last == DeviceOutcome.Succeeded)
        {
            return false;
        }

        if (!OutcomeEvent.IsFailure(last))
        {
            return true;
        }

        var attempts = S.Attempts.GetValueOrDefault(campaign.CampaignId) ?? new CampaignAttempts(1, null, null);
        return attempts.Offers < campaign.Retry.MaxAttempts
            && campaign.Retry.IsRetryable(attempts.LastErrorCode)
            && (attempts.LastFailureAt is null || now >= attempts.LastFailureAt + campaign.Retry.Backoff);
    }

    private OfferRecord NewOffer(OfferDecision.Offer offer, DateTimeOffset now)
    {
        if (S.Offer is { } previous)
        {
            // History is for operators: the manifest and its signature stay with the package, not in every device;
            // the last report id stays, so a retried final report is still recognised as a duplicate.
            S.History.Insert(0, previous with { ManifestBytes = [], ManifestSignature = [], AppliedReportIds = [.. previous.AppliedReportIds.TakeLast(1)] });
            if (S.History.Count > options.Value.HistoryLimit)
            {
                S.History.RemoveRange(options.Value.HistoryLimit, S.History.Count - options.Value.HistoryLimit);
            }
        }

        S.OfferCounter++;
        var package = offer.Package;
        var offerId = $"of-{S.OfferCounter}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
        return new OfferRecord(offerId, offer.Campaign.CampaignId, package.PackageId, package.Manifest.Version,
            package.ManifestBytes, package.Signature, package.Manifest.Size, package.Manifest.Sha256,
            OfferStatus.Offered, 0, null, now, now, now + offer.Campaign.InProgressTimeout, [], S.Facts!.CurrentVersion)
        {
            Stage = offer.Stage,
        };
    }

    private void Close(OfferStatus status, string? errorCode, DateTimeOffset now)
    {
        var offer = S.Offer!;
        S.Offer = offer with { Status = status, ErrorCode = errorCode, UpdatedAt = now };
        Enqueue(offer.CampaignId, OutcomeEvent.FromStatus(status), errorCode, offer.Stage);
    }

    /// <summary>
    /// Records an outcome: the campaign's ledger row goes into the device's next write (stored together or not at
    /// all), and the event waits in memory to be counted by the campaign's stats shard once that write committed.
    /// </summary>
    private void Enqueue(string campaignId, DeviceOutcome outcome, string? errorCode, int stage)
    {
        var retryPending = false;
        var attempts = S.Attempts.GetValueOrDefault(campaignId) ?? new CampaignAttempts(1, null, null);
        if (OutcomeEvent.IsFailure(outcome))
        {
            attempts = attempts with { LastFailureAt = clock.UtcNow, LastErrorCode = errorCode, Failures = attempts.Failures + 1 };
            S.Attempts[campaignId] = attempts;
            var retry = snapshots.Current?.Campaigns.FirstOrDefault(c => c.CampaignId == campaignId)?.Retry;
            retryPending = retry is not null && attempts.Offers < retry.MaxAttempts && retry.IsRetryable(errorCode);
        }

        var facts = S.Facts;
        var source = S.Offer is { } offer && offer.CampaignId == campaignId ? offer.SourceVersion : facts?.CurrentVersion ?? string.Empty;
        var cohort = new Cohort(facts?.Model ?? string.Empty, facts?.HardwareRevision ?? string.Empty, facts?.Region ?? string.Empty,
            facts?.Carrier ?? string.Empty, source);
        S.OutcomeSequence++;
        S.Outcomes[campaignId] = outcome;
        var open = S.Offer is { } o && o.CampaignId == campaignId && !InstallLifecycle.IsTerminal(o.Status) ? o : null;
        var outcomeEvent = new OutcomeEvent(campaignId, DeviceId, S.OutcomeSequence, outcome, errorCode, cohort)
        {
            Stage = stage,
            OfferId = S.Offer?.CampaignId == campaignId ? S.Offer.OfferId : null,
            Deadline = open?.Deadline,
            RetryPending = retryPending,
            FailedAttempts = attempts.Failures,
            LastFailureCode = attempts.Failures > 0 ? attempts.LastErrorCode ?? "E_UNSPECIFIED" : null,
        };
        S.AddRow(new LedgerRowChange(outcomeEvent));
        _outbox.Add(outcomeEvent);
    }

    private Task StoreAndDeliverIfAsync(bool dirty) => dirty ? StoreAndDeliverAsync() : Task.CompletedTask;

    /// <summary>
    /// One durable write — the device's state with its registry and ledger rows, in a transaction shared with other
    /// grains' writes — then the stored events to the stats shards (memory only, no I/O there).
    /// </summary>
    private async Task StoreAndDeliverAsync()
    {
        await state.WriteStateAsync();
        await DeliverOutboxAsync();
    }

    /// <summary>
    /// Sends stored events to their shards. A failure is logged and retried by a timer; either way the outcome is
    /// already counted in the ledger, and the shard re-reads its rows, so a delivery that never arrives is healed.
    /// </summary>
    private async Task DeliverOutboxAsync()
    {
        if (_outbox.Count == 0)
        {
            return;
        }

        var batch = _outbox.ToList();
        try
        {
            var shard = StatsSharding.ShardOf(DeviceId);
            var sends = batch.GroupBy(e => e.CampaignId).Select(g =>
                GrainFactory.GetGrain<ICampaignStatsGrain>(StatsSharding.ShardKey(g.Key, shard)).ApplyAsync([.. g]));
            await Task.WhenAll(sends);
            _outbox.RemoveAll(batch.Contains);
            _outboxTimer?.Dispose();
            _outboxTimer = null;
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Device {DeviceId}: {Count} outcome events not delivered yet; will retry", DeviceId, batch.Count);
            _outboxTimer ??= this.RegisterGrainTimer(
                _ => DeliverOutboxAsync(),
                new GrainTimerCreationOptions { DueTime = options.Value.OutboxRetryInterval, Period = options.Value.OutboxRetryInterval, KeepAlive = true });
        }
    }
}
