using ZteRollout.Shared.Telemetry;
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
/// One device. Decides check-ins on its own from the silo's campaign snapshot, owns its one offer (re-checked at
/// every check-in against what the device runs and its campaign's state), validates its reports (a success must
/// prove itself), and hands outcome events to the campaign's stats shards through its <see cref="OutcomeOutbox"/>
/// (the change and its ledger row are written together; delivery is retried until acknowledged).
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

    /// <summary>Report ids remembered per offer: enough for any agent's retries of its recent reports.</summary>
    private const int ReportIdsKept = 16;
    private DateTimeOffset? _lastSeenPosted;
    private OutcomeOutbox? _outbox;

    // This device's bucket per campaign salt: fixed for a campaign's life, so computed once per activation.
    private readonly Dictionary<string, int> _buckets = new(StringComparer.Ordinal);

    private string? _deviceId;

    private string DeviceId => _deviceId ??= GrainKeys.DeviceIdOf(this.GetPrimaryKeyString());

    private DeviceState S => state.State;

    private OutcomeOutbox Outbox => _outbox ??= new(this, GrainFactory, DeviceId, options.Value.OutboxRetryInterval, logger);

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
        var result = await DecideCheckInAsync(facts);
        RolloutMetrics.CheckIn(result.Outcome switch
        {
            CheckInOutcome.Offer => "offer",
            CheckInOutcome.Deferred => "deferred",
            _ => "no_update",
        });
        return result;
    }

    private async Task<CheckInResult> DecideCheckInAsync(DeviceFacts facts)
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

        if (_lastSeenPosted is null || now - _lastSeenPosted >= options.Value.LastSeenInterval)
        {
            // Nobody waits for it: it rides along with the next group commit.
            writer.Post(new LastSeenChange(DeviceId, now));
            _lastSeenPosted = now;
        }

        var snapshot = await snapshots.GetAsync();
        var sequenceBefore = S.OutcomeSequence;
        if (S.Offer is { } open && !InstallLifecycle.IsTerminal(open.Status))
        {
            // One active offer per device, but only while it still fits what the device runs and its campaign's state;
            // an offer closed here is followed by a fresh decision in the same check-in.
            var verdict = OpenOfferReview.Review(open, facts.CurrentVersion, snapshot.Find(open.CampaignId), now);
            if (verdict == OpenOfferVerdict.Keep)
            {
                await StoreAndDeliverIfAsync(dirty);
                return new CheckInResult(CheckInOutcome.Offer, open, null, null, CheckInInterval);
            }

            // Running the target: SUCCEEDED, inferred (its report, when it comes, is a duplicate). Past the deadline:
            // TIMED_OUT. Another version, a halt or an ended campaign: withdrawn, which is not a failure.
            var (status, code) = OpenOfferReview.Closing(verdict);
            if (status == OfferStatus.Canceled)
            {
                Withdraw(code, now);
            }
            else
            {
                Close(status, code, now);
            }

            dirty = true;
        }

        if (S.HealthWatch is { } watch && S.Offer is { } watched)
        {
            // A success awaiting its health confirmation: this sighting confirms it, fails it, or leaves it pending.
            // While it is pending the device gets no new offer (a new install would end what the window observes).
            var health = HealthConfirmation.OfCheckIn(watched, watch, facts.CurrentVersion, facts.ActiveSlot, now);
            if (health == HealthVerdict.Pending)
            {
                await StoreAndDeliverIfAsync(dirty || S.OutcomeSequence != sequenceBefore);
                return new CheckInResult(CheckInOutcome.NoUpdate, null, null, null, HealthConfirmation.NextCheckInSeconds(watch, now, CheckInInterval));
            }

            ResolveHealthWatch(health, errorCode: null, now);
            dirty = true;
        }

        var context = new DeviceContext(DeviceId, S.Tags, facts) { RefusedDeltas = S.RefusedDeltas };
        var check = OfferSelection.Decide(context, snapshot, c => HeldBy(c, now, describe: false), _buckets);
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
                RolloutMetrics.Offer(offer.Campaign.CampaignId, delta: offer.Package.Manifest.DeltaFormat is not null || offer.Package.Manifest.BaseVersion is not null);
                if (!StillExposed(offer.Campaign.CampaignId))
                {
                    // The campaign was halted, paused or frozen while this offer was being stored: withdraw it
                    // rather than hand out an offer decided on a snapshot that is no longer true.
                    Withdraw(snapshots.Current?.Find(offer.Campaign.CampaignId)?.Halted == true ? OfferCloseCodes.WithdrawnHalted : null, clock.UtcNow);
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
            Close(OfferStatus.TimedOut, OfferCloseCodes.TimedOut, clock.UtcNow);
            await StoreAndDeliverAsync();
        }
    }

    public async Task<DownloadGrant> AuthorizeDownloadAsync(string offerId, long offset)
    {
        RequireRegistered();
        if (S.Offer is not { } offer || offer.OfferId != offerId)
        {
            throw await RefusalAsync(RolloutException.PermissionDenied($"device '{DeviceId}' holds no offer '{offerId}'"));
        }

        await WithdrawIfHaltedAsync(offer);
        if (InstallLifecycle.IsTerminal(offer.Status))
        {
            throw await RefusalAsync(Closed(offer, $"offer '{offerId}' is {Name(offer.Status)}; downloads need an open offer"));
        }

        if (clock.UtcNow > offer.Deadline)
        {
            throw RolloutException.FailedPrecondition($"offer '{offerId}' passed its deadline {offer.Deadline:O}; check in again");
        }

        if (offset > offer.Size)
        {
            throw RolloutException.OutOfRange($"offset {offset} is past the end of package '{offer.PackageId}' ({offer.Size} bytes)");
        }

        return new DownloadGrant(offer.Sha256, offer.Size);
    }

    public async Task<ReportResult> ReportAsync(DeviceReport report)
    {
        RequireRegistered();
        if (S.Offer is not { } offer || offer.OfferId != report.OfferId)
        {
            if (S.History.FirstOrDefault(h => h.OfferId == report.OfferId) is { } old)
            {
                if (old.AppliedReportIds.Contains(report.ReportId) || IsLateProvenSuccess(old, report))
                {
                    return new ReportResult(old.Status, Duplicate: true);
                }

                throw await RefusalAsync(Closed(old, $"offer '{old.OfferId}' is {Name(old.Status)}; it takes no more reports"));
            }

            throw await RefusalAsync(RolloutException.NotFound($"device '{DeviceId}' has no offer '{report.OfferId}'"));
        }

        if (offer.AppliedReportIds.Contains(report.ReportId))
        {
            return new ReportResult(offer.Status, Duplicate: true);
        }

        if (S.HealthWatch is { } watch && watch.OfferId == offer.OfferId && HealthConfirmation.OfReport(watch, report.Step, clock.UtcNow) is { } health)
        {
            return await ReportInHealthWindowAsync(offer, report, health);
        }

        if (IsLateProvenSuccess(offer, report))
        {
            return new ReportResult(offer.Status, Duplicate: true);
        }

        if (report is { Step: OfferStatus.Failed, ErrorCode: OfferCloseCodes.DeltaBaseImageMismatch } && offer.DeltaFormat is not null
            && InstallLifecycle.CanMove(offer.Status, OfferStatus.Failed))
        {
            // The device's slot is not the delta's base: the FULL fits it. Withdrawn (no failure, no retry spent) and
            // remembered, so the next check-in offers the FULL.
            if (!S.RefusedDeltas.Contains(offer.PackageId))
            {
                S.RefusedDeltas.Add(offer.PackageId);
            }

            Withdraw(OfferCloseCodes.DeltaBaseImageMismatch, clock.UtcNow);
            S.Offer = S.Offer! with { AppliedReportIds = Remember(offer.AppliedReportIds, report.ReportId) };
            await StoreAndDeliverAsync();
            return new ReportResult(S.Offer.Status, Duplicate: false);
        }

        if (report.Step != OfferStatus.Failed)
        {
            // A device that starts on an offer its halted campaign withdrew is told so; a failure still counts.
            await WithdrawIfHaltedAsync(offer);
        }

        if (report.Step == OfferStatus.Downloading && offer.Status == OfferStatus.Downloading)
        {
            if (offer.ProgressReports >= options.Value.MaxProgressReportsPerOffer)
            {
                throw RolloutException.ResourceExhausted(
                    $"offer '{offer.OfferId}' took its limit of {options.Value.MaxProgressReportsPerOffer} DOWNLOADING progress reports; report the next step");
            }

            // Progress within the download changes nothing that must survive a crash (the device resumes from its own
            // offset): kept in memory, acknowledged without a transaction, stored with the next real change.
            S.Offer = offer with
            {
                BytesDownloaded = Math.Max(offer.BytesDownloaded, report.BytesDownloaded),
                UpdatedAt = clock.UtcNow,
                AppliedReportIds = Remember(offer.AppliedReportIds, report.ReportId),
                ProgressReports = offer.ProgressReports + 1,
            };
            return new ReportResult(offer.Status, Duplicate: false);
        }

        if (report.ProgressNote && !InstallLifecycle.IsTerminal(offer.Status) && !InstallLifecycle.CanMove(offer.Status, report.Step))
        {
            // An agent's note of a step already passed (or not one of ours to take): acknowledged, nothing changes.
            return new ReportResult(offer.Status, Duplicate: false);
        }

        if (!InstallLifecycle.CanMove(offer.Status, report.Step))
        {
            throw await RefusalAsync(Closed(offer, $"offer '{offer.OfferId}' is {Name(offer.Status)}; it cannot move to {Name(report.Step)}"));
        }

        if (report.Step == OfferStatus.Succeeded)
        {
            // Installed is not succeeded: the report must show the target running from the other slot.
            SuccessProof.Require(offer, report);
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

        var after = report.Step == OfferStatus.Succeeded ? StartHealthWatch(S.Offer, now) : OutcomeEvent.FromStatus(report.Step);
        if (after != before)
        {
            Enqueue(offer.CampaignId, after, S.Offer.ErrorCode, offer.Stage);
        }

        // Ack means durable: the report and its outcome event are stored before the device hears back.
        await StoreAndDeliverAsync();
        return new ReportResult(S.Offer.Status, Duplicate: false);
    }

    public async Task<DeviceExplanation> ExplainAsync()
    {
        RequireRegistered();
        var snapshot = await snapshots.GetAsync();
        if (S.Facts is not { } facts)
        {
            return new DeviceExplanation(DeviceId, "never checked in: offers are decided at a check-in, from the facts it reports", [], snapshot.Version);
        }

        var now = clock.UtcNow;
        var judged = OfferSelection.Explain(new DeviceContext(DeviceId, S.Tags, facts) { RefusedDeltas = S.RefusedDeltas }, snapshot, c => HeldBy(c, now, describe: true), rateLimiter.HasRoom);
        var campaigns = judged.Select(j => new CampaignExplanation(j.Campaign.CampaignId, j.Judgement.Verdict, j.Judgement.Detail, j.Judgement.Stage));
        return new DeviceExplanation(DeviceId, Summarize(snapshot, facts, judged, now), [.. campaigns], snapshot.Version);
    }

    /// <summary>The overall answer, in the order the check-in applies its rules: open offer, freeze, version, then the campaigns.</summary>
    private string Summarize(CampaignSnapshot snapshot, DeviceFacts facts, ImmutableArray<(ActiveCampaign Campaign, CampaignJudgement Judgement)> judged, DateTimeOffset now)
    {
        var asOf = $"as of its last check-in ({S.LastCheckIn:O}, version {facts.CurrentVersion})";
        if (S.Offer is { } open && !InstallLifecycle.IsTerminal(open.Status))
        {
            var review = OpenOfferReview.Review(open, facts.CurrentVersion, snapshot.Find(open.CampaignId), now);
            if (review == OpenOfferVerdict.Keep)
            {
                return $"holds open offer '{open.OfferId}' of campaign '{open.CampaignId}' ({Name(open.Status)}, deadline {open.Deadline:O}): one offer at a time, nothing new until it ends";
            }

            var (closing, _) = OpenOfferReview.Closing(review);
            return $"open offer '{open.OfferId}' of campaign '{open.CampaignId}' ends as {Name(closing)} at the next check-in ({review}), which then decides afresh {asOf}";
        }

        if (S.HealthWatch is { } watch && S.Offer is { } watched)
        {
            return $"its success in campaign '{watched.CampaignId}' (offer '{watched.OfferId}') awaits health confirmation: a check-in on {watched.TargetVersion} from {watch.ConfirmableAt:O} confirms it; no new offer until then";
        }

        if (snapshot.Frozen)
        {
            return "the fleet is frozen: no campaign makes a new offer until an SRE unfreezes it";
        }

        if (!Shared.Versions.FirmwareVersion.TryParse(facts.CurrentVersion, out _, out var problem))
        {
            return $"its reported version '{facts.CurrentVersion}' cannot be read ({problem}): no campaign is judged";
        }

        foreach (var (campaign, judgement) in judged)
        {
            switch (judgement.Verdict)
            {
                case OfferVerdict.Offer:
                    return $"campaign '{campaign.CampaignId}' would offer it {asOf}";
                case OfferVerdict.Deferred:
                    return $"campaign '{campaign.CampaignId}' applies but defers it {asOf}: {judgement.Detail}";
                case OfferVerdict.RateLimited:
                    return $"campaign '{campaign.CampaignId}' applies but its offer rate limit has no room now; the device is told to ask again within {RateLimitedRetrySeconds} s";
            }
        }

        return judged.IsEmpty ? "no campaign is running" : $"no campaign offers it anything now {asOf}";
    }

    public async Task<StoredFactsCheckIn?> CheckInWithStoredFactsAsync(byte[]? presentedHash)
    {
        if (presentedHash is not null && !(S.Registered && DeviceIdentity.SecretMatches(S.CredentialHash, presentedHash)))
        {
            return null;
        }

        RequireRegistered();
        if (S.Facts is null)
        {
            // Nothing to decide on yet: the agent is asked for its attributes first.
            return new StoredFactsCheckIn(null, FactsRequested: true, null);
        }

        var result = await CheckInAsync(S.Facts);
        var snapshot = await snapshots.GetAsync();
        var cancelNotice = S.Offer is { } offer && IsCanceling(offer, snapshot) ? offer : null;
        return new StoredFactsCheckIn(result, FactsRequested, cancelNotice);
    }

    public async Task<CheckInResult> MergeFactsAsync(DeviceFactsPatch patch, bool replace)
    {
        RequireRegistered();
        var (facts, missing) = patch.ApplyTo(S.Facts, replace);
        if (facts is null)
        {
            throw RolloutException.InvalidField(missing!, "is required: eligibility needs the device's model and current version");
        }

        var requested = FactsRequested;
        S.FactsSentAtOfferId = S.Offer?.OfferId;
        var result = await CheckInAsync(facts);
        if (requested)
        {
            // The check-in stores only what changed its decision; that the attributes arrived must survive a restart too.
            await state.WriteStateAsync();
        }

        return result;
    }

    public Task<OfferRecord?> FindOfferAsync(long offerNumber)
    {
        RequireRegistered();
        if (S.Offer is { } current && OfferNumbers.Of(current.OfferId) == offerNumber)
        {
            return Task.FromResult<OfferRecord?>(current);
        }

        return Task.FromResult(S.History.FirstOrDefault(h => OfferNumbers.Of(h.OfferId) == offerNumber));
    }

    public async Task<OfferRecord?> FindCancelingOfferAsync(long offerNumber)
    {
        var offer = await FindOfferAsync(offerNumber);
        return offer is not null && offer.OfferId == S.Offer?.OfferId && IsCanceling(offer, await snapshots.GetAsync()) ? offer : null;
    }

    public async Task AcknowledgeCancelAsync(string offerId)
    {
        RequireRegistered();
        if (S.Offer is { } offer && offer.OfferId == offerId)
        {
            if (!InstallLifecycle.IsTerminal(offer.Status))
            {
                if (!IsCanceling(offer, await snapshots.GetAsync()))
                {
                    throw RolloutException.FailedPrecondition($"offer '{offerId}' is {Name(offer.Status)} and its campaign still runs; it is not being canceled");
                }

                // The agent stopped before installing: the offer ends as CANCELED, not a failure.
                Withdraw(null, clock.UtcNow);
                S.CancelAcknowledgedOfferId = offerId;
                await StoreAndDeliverAsync();
                return;
            }

            if (offer.Status != OfferStatus.Canceled)
            {
                throw RolloutException.FailedPrecondition($"offer '{offerId}' is {Name(offer.Status)}, not canceled");
            }

            if (S.CancelAcknowledgedOfferId != offerId)
            {
                S.CancelAcknowledgedOfferId = offerId;
                await state.WriteStateAsync();
            }

            return;
        }

        if (S.History.All(h => h.OfferId != offerId))
        {
            throw RolloutException.NotFound($"device '{DeviceId}' has no offer '{offerId}'");
        }
    }

    /// <summary>
    /// Whether the device should be told its offer is canceled (hawkBit DDI cancelAction): an offer its campaign's end
    /// withdrew before it started, until the device acknowledged that; or an open offer not yet installing whose
    /// campaign has ended (an agent can still stop it; its acknowledgement withdraws it). A halt's withdrawal is
    /// not a cancellation: the device is simply not offered the update any more.
    /// </summary>
    private bool IsCanceling(OfferRecord offer, CampaignSnapshot snapshot) => offer.Status switch
    {
        OfferStatus.Canceled => offer.ErrorCode != OfferCloseCodes.WithdrawnHalted && offer.OfferId != S.CancelAcknowledgedOfferId,
        OfferStatus.Downloading or OfferStatus.Downloaded or OfferStatus.Verified => snapshot.Find(offer.CampaignId) is null,
        _ => false,
    };

    /// <summary>Attributes are asked for until the device sent them, and again once each offer has finished.</summary>
    private bool FactsRequested =>
        S.Facts is null || (S.Offer is { } offer && InstallLifecycle.IsTerminal(offer.Status) && S.FactsSentAtOfferId != offer.OfferId);

    public Task<DeviceView> GetViewAsync()
    {
        RequireRegistered();
        return Task.FromResult(new DeviceView(DeviceId, S.Tags, S.Facts, S.LastCheckIn, S.Offer, [.. S.History], S.CurrentVersion, S.ActiveSlot));
    }

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

    /// <summary>
    /// A halt withdraws the offers whose download has not started (in-flight installs may finish and count): an
    /// OFFERED offer of a campaign the snapshot shows halted is withdrawn and stored, and the caller is refused.
    /// </summary>
    private async Task WithdrawIfHaltedAsync(OfferRecord offer)
    {
        if (offer.Status == OfferStatus.Offered && (await snapshots.GetAsync()).Find(offer.CampaignId) is { Halted: true })
        {
            Withdraw(OfferCloseCodes.WithdrawnHalted, clock.UtcNow);
            await StoreAndDeliverAsync();
            throw Closed(S.Offer!, null);
        }
    }

    /// <summary>The refusal of a call on a closed offer; one a halt withdrew says so.</summary>
    private static RolloutException Closed(OfferRecord offer, string? otherwise) =>
        offer is { Status: OfferStatus.Canceled, ErrorCode: OfferCloseCodes.WithdrawnHalted }
            ? RolloutException.FailedPrecondition($"offer '{offer.OfferId}' was withdrawn before its download started: campaign '{offer.CampaignId}' is halted")
            : RolloutException.FailedPrecondition(otherwise ?? $"offer '{offer.OfferId}' is {Name(offer.Status)}");

    /// <summary>
    /// A SUCCEEDED report, with its proof, of an offer whose success was already inferred at a check-in (the report
    /// had been lost, or overtaken): acknowledged as a duplicate, counted once.
    /// </summary>
    private static bool IsLateProvenSuccess(OfferRecord offer, DeviceReport report)
    {
        if (report.Step != OfferStatus.Succeeded || offer is not { Status: OfferStatus.Succeeded, ErrorCode: OfferCloseCodes.SucceededInferred })
        {
            return false;
        }

        SuccessProof.Require(offer, report);
        return true;
    }

    /// <summary>Whether the silo's newest snapshot still lets the campaign make offers to this device.</summary>
    private bool StillExposed(string campaignId) =>
        snapshots.Current is { } now && !now.Frozen && now.Find(campaignId) is { } campaign
        && Bucketing.IsExposed(Bucketing.BucketOf(campaign.Salt, DeviceId), campaign.ExposurePercent);

    /// <summary>
    /// Why the device's own history holds the campaign back now, or null when it may be offered: never after a
    /// success; after a failure only while the retry budget lasts, for a retryable error code, once the backoff has
    /// passed. Without <paramref name="describe"/> (the check-in) the reason is only null or not.
    /// </summary>
    private string? HeldBy(ActiveCampaign campaign, DateTimeOffset now, bool describe)
    {
        var last = S.Outcomes.GetValueOrDefault(campaign.CampaignId);
        if (last == DeviceOutcome.Succeeded)
        {
            return "the device already succeeded in this campaign";
        }

        if (last == DeviceOutcome.PendingConfirmation)
        {
            return describe && S.HealthWatch is { } watch
                ? $"the device succeeded; its success awaits health confirmation from {watch.ConfirmableAt:O}"
                : "the device succeeded; its success awaits health confirmation";
        }

        if (!OutcomeEvent.IsFailure(last))
        {
            return null;
        }

        var attempts = S.Attempts.GetValueOrDefault(campaign.CampaignId) ?? new CampaignAttempts(1, null, null);
        if (attempts.Offers >= campaign.Retry.MaxAttempts)
        {
            return describe ? $"retry budget spent: {attempts.Offers} of {campaign.Retry.MaxAttempts} attempts used" : string.Empty;
        }

        if (!campaign.Retry.IsRetryable(attempts.LastErrorCode))
        {
            return describe ? $"last failure {attempts.LastErrorCode ?? "E_UNSPECIFIED"} is not retryable" : string.Empty;
        }

        if (attempts.LastFailureAt is { } failedAt && now < failedAt + campaign.Retry.Backoff)
        {
            return describe ? $"retry backoff until {failedAt + campaign.Retry.Backoff:O} (attempt {attempts.Offers + 1} of {campaign.Retry.MaxAttempts})" : string.Empty;
        }

        return null;
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
        var offerId = OfferNumbers.NewOfferId(S.OfferCounter, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        return new OfferRecord(offerId, offer.Campaign.CampaignId, package.PackageId, package.Manifest.Version,
            package.ManifestBytes, package.Signature, package.Manifest.Size, package.Manifest.Sha256,
            OfferStatus.Offered, 0, null, now, now, now + offer.Campaign.InProgressTimeout, [], S.Facts!.CurrentVersion)
        {
            Stage = offer.Stage,
            SourceSlot = S.Facts.ActiveSlot,
            DeltaFormat = package.Manifest.DeltaFormat,
        };
    }

    private void Close(OfferStatus status, string? errorCode, DateTimeOffset now)
    {
        var offer = S.Offer!;
        S.Offer = offer with { Status = status, ErrorCode = errorCode, UpdatedAt = now };
        var outcome = status == OfferStatus.Succeeded ? StartHealthWatch(S.Offer, now) : OutcomeEvent.FromStatus(status);
        Enqueue(offer.CampaignId, outcome, errorCode, offer.Stage);
    }

    /// <summary>
    /// The outcome a success of <paramref name="offer"/> counts as: SUCCEEDED, or — when its campaign has a health
    /// window — pending confirmation, watched from now until a sighting of the device confirms or fails it.
    /// </summary>
    private DeviceOutcome StartHealthWatch(OfferRecord offer, DateTimeOffset now)
    {
        S.HealthWatch = HealthConfirmation.Start(offer, snapshots.Current?.Find(offer.CampaignId)?.HealthWindow, now);
        return S.HealthWatch is null ? DeviceOutcome.Succeeded : DeviceOutcome.PendingConfirmation;
    }

    /// <summary>Ends the health watch of the device's offer: a confirmed success is counted as SUCCEEDED, anything else closes the offer as a failure.</summary>
    private void ResolveHealthWatch(HealthVerdict verdict, string? errorCode, DateTimeOffset now)
    {
        var offer = S.Offer!;
        S.HealthWatch = null;
        if (verdict == HealthVerdict.Confirmed)
        {
            Enqueue(offer.CampaignId, DeviceOutcome.Succeeded, offer.ErrorCode, offer.Stage);
            return;
        }

        var (status, code) = HealthConfirmation.Failure(verdict);
        Close(status, errorCode ?? code, now);
    }

    /// <summary>
    /// A report on an offer whose success awaits its health confirmation: SUCCEEDED again (with its proof) is a healthy
    /// sighting, ROLLED_BACK or FAILED turns the success into that failure. Stored before the device hears back.
    /// </summary>
    private async Task<ReportResult> ReportInHealthWindowAsync(OfferRecord offer, DeviceReport report, HealthVerdict health)
    {
        if (report.Step == OfferStatus.Succeeded)
        {
            SuccessProof.Require(offer, report);
        }

        S.Offer = offer with { AppliedReportIds = Remember(offer.AppliedReportIds, report.ReportId) };
        if (health == HealthVerdict.Pending)
        {
            // Healthy, but too early to confirm: nothing that must survive a crash changed.
            return new ReportResult(S.Offer.Status, Duplicate: false);
        }

        if (health != HealthVerdict.Confirmed)
        {
            // The device is back where it came from (or says it failed): it runs what it reports, when it says.
            if (!string.IsNullOrEmpty(report.RunningVersion))
            {
                S.CurrentVersion = report.RunningVersion;
                S.ActiveSlot = report.ActiveSlot != BootSlot.Unspecified ? report.ActiveSlot : S.ActiveSlot;
                S.Facts = S.Facts is null ? null : S.Facts with { CurrentVersion = report.RunningVersion, ActiveSlot = S.ActiveSlot };
            }
        }

        ResolveHealthWatch(health, report.Step == OfferStatus.Succeeded ? null : report.ErrorCode, clock.UtcNow);
        await StoreAndDeliverAsync();
        return new ReportResult(S.Offer.Status, Duplicate: false);
    }

    /// <summary>
    /// Closes the open offer as CANCELED before the device used it: not a failure, and not an attempt of the retry
    /// budget (the device is offered again when its campaign offers again).
    /// </summary>
    private void Withdraw(string? code, DateTimeOffset now)
    {
        var campaignId = S.Offer!.CampaignId;
        if (S.Attempts.GetValueOrDefault(campaignId) is { Offers: > 0 } attempts)
        {
            S.Attempts[campaignId] = attempts with { Offers = attempts.Offers - 1 };
        }

        Close(OfferStatus.Canceled, code, now);
    }

    /// <summary>
    /// Returns <paramref name="refusal"/> once storage confirms this activation's state is current. While membership
    /// changes (a silo died with its part of Orleans' grain directory) a device can briefly have two activations, and
    /// the other one may have stored steps this one never saw: a request that does not fit this activation's state
    /// may fit the stored one. So before a device is told it is wrong, the stored state is read; if another
    /// activation wrote since, the call fails as a storage conflict instead — <see cref="Hosting.StorageFailureFilter"/>
    /// drops this activation and the gateway retries on one that reads what is stored. Only refusals pay the read.
    /// </summary>
    private async Task<Exception> RefusalAsync(Exception refusal)
    {
        var known = state.Etag;
        await state.ReadStateAsync();
        return state.Etag == known
            ? refusal
            : new Orleans.Storage.InconsistentStateException($"device '{DeviceId}': another activation stored newer state; this one steps aside", known, state.Etag);
    }

    /// <summary>Records an outcome: its ledger row goes with the next write, its event to the shard once stored.</summary>
    private void Enqueue(string campaignId, DeviceOutcome outcome, string? errorCode, int stage)
    {
        Outbox.Record(S, campaignId, outcome, errorCode, stage, clock.UtcNow, snapshots.Current?.Find(campaignId)?.Retry);
        RolloutMetrics.Outcome(campaignId, stage, OutcomeLabel(outcome), errorCode);
    }

    private static string OutcomeLabel(DeviceOutcome outcome) => outcome switch
    {
        DeviceOutcome.InProgress => "in_progress",
        DeviceOutcome.RolledBack => "rolled_back",
        DeviceOutcome.TimedOut => "timed_out",
        _ => outcome.ToString().ToLowerInvariant(),
    };

    private Task StoreAndDeliverIfAsync(bool dirty) => dirty ? StoreAndDeliverAsync() : Task.CompletedTask;

    /// <summary>
    /// One durable write — the device's state with its registry and ledger rows, in a transaction shared with other
    /// grains' writes — then the stored events to the stats shards (memory only, no I/O there), waited for only up to
    /// <see cref="RolloutSiloOptions.OutcomeDeliveryWait"/>.
    /// </summary>
    private async Task StoreAndDeliverAsync()
    {
        await state.WriteStateAsync();
        await Outbox.DeliverAsync(options.Value.OutcomeDeliveryWait, clock.Time);
    }
}
