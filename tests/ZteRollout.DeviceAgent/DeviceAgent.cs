using System.Security.Cryptography;
using Grpc.Core;
using Grpc.Net.Client;
using ZteRollout.Device.V1;
using OfferCloseCodes = ZteRollout.Shared.Devices.OfferCloseCodes;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;

namespace ZteRollout.DeviceAgent;

/// <summary>
/// The reference device agent: one <see cref="RunOnceAsync"/> is one check-in round over real gRPC —
/// check in, and for an offer verify, download (resuming), hash, install into the inactive slot, reboot, report.
/// </summary>
public sealed class DeviceAgent
{
    private readonly DeviceUpdate.DeviceUpdateClient _client;
    private readonly string _deviceId;
    private readonly Metadata _headers;
    private readonly Dictionary<string, string> _trustedKeys;
    private readonly SimulatedDevice _device;
    private readonly AgentBehavior _behavior;
    private readonly TimeProvider _time;

    public DeviceAgent(
        GrpcChannel channel, string deviceId, string token, string signingPublicKeyPem,
        SimulatedDevice device, AgentBehavior behavior, TimeProvider? time = null)
        : this(channel.CreateCallInvoker(), deviceId, token, [signingPublicKeyPem], device, behavior, time)
    {
    }

    public DeviceAgent(
        CallInvoker invoker, string deviceId, string token, string signingPublicKeyPem,
        SimulatedDevice device, AgentBehavior behavior, TimeProvider? time = null)
        : this(invoker, deviceId, token, [signingPublicKeyPem], device, behavior, time)
    {
    }

    /// <param name="trustedKeyPems">
    /// The release public keys the device image ships with (docs/security.md, "Release signing"): a manifest must be
    /// signed by one of them and name it by its id.
    /// </param>
    /// <param name="time">
    /// The device's clock: drives retry back-off and judges manifest expiry; gRPC deadlines are wall-clock times sent on the wire.
    /// </param>
    public DeviceAgent(
        CallInvoker invoker, string deviceId, string token, IReadOnlyList<string> trustedKeyPems,
        SimulatedDevice device, AgentBehavior behavior, TimeProvider? time = null)
    {
        if (trustedKeyPems.Count == 0)
        {
            throw new ArgumentException("A device trusts at least one release key.", nameof(trustedKeyPems));
        }

        _trustedKeys = [];
        foreach (var pem in trustedKeyPems)
        {
            try
            {
                // Fail at construction, not at the first offer, when a key the device trusts is unusable.
                var normalized = ReleaseKeys.NormalizePublicPem(pem);
                _trustedKeys[ReleaseKeys.KeyId(normalized)] = normalized;
            }
            catch (FormatException e)
            {
                throw new ArgumentException("A trusted signing key is not a valid P-256 PEM public key.", nameof(trustedKeyPems), e);
            }
        }

        _client = new DeviceUpdate.DeviceUpdateClient(invoker);
        _deviceId = deviceId;
        _headers = new Metadata { { "authorization", "Bearer " + token } };
        _device = device;
        _behavior = behavior;
        _time = time ?? TimeProvider.System;
    }

    public async Task<AgentRunResult> RunOnceAsync(CancellationToken cancellationToken)
    {
        var request = new CheckInRequest { DeviceId = _deviceId, Facts = Facts() };
        var response = await CallAsync("CheckIn", o => _client.CheckInAsync(request, o).ResponseAsync, cancellationToken);
        var next = response.NextCheckInSeconds;
        return response.DecisionCase switch
        {
            CheckInResponse.DecisionOneofCase.NoUpdate => new AgentRunResult(AgentOutcome.NoUpdate, null, 0, null, null, next),
            CheckInResponse.DecisionOneofCase.Deferred => new AgentRunResult(
                AgentOutcome.Deferred, null, 0, null, $"{response.Deferred.Reason}: {response.Deferred.Detail}", next),
            CheckInResponse.DecisionOneofCase.Offer => await HandleOfferAsync(response.Offer, next, cancellationToken),
            _ => throw new DeviceAgentException($"CheckIn of device '{_deviceId}' answered no decision."),
        };
    }

    private DeviceFacts Facts() => new()
    {
        Model = _behavior.Model,
        HardwareRevision = _behavior.HardwareRevision,
        Region = _behavior.Region,
        Carrier = _behavior.Carrier,
        CurrentVersion = _device.CurrentVersion,
        ActiveSlot = _device.ActiveSlot,
        BatteryPercent = _behavior.BatteryPercent,
        FreeStorageBytes = _behavior.FreeStorageBytes,
        AgentVersion = _behavior.AgentVersion,
    };

    private async Task<AgentRunResult> HandleOfferAsync(Offer offer, uint next, CancellationToken ct)
    {
        AgentRunResult Finish(AgentOutcome outcome, long bytes, string? code = null, string? detail = null) =>
            new(outcome, offer.OfferId, bytes, code, detail, next);

        async Task<AgentRunResult> Refuse(string code, string detail)
        {
            await ReportAsync(offer, InstallStep.Failed, ct, errorCode: code, detail: detail);
            return Finish(AgentOutcome.Refused, 0, code, detail);
        }

        // The signature is checked before a manifest field is believed: unsigned bytes are attacker input. A manifest
        // must name the trusted key that signed it and not have expired, whatever the server thought of it.
        var (verdict, judged) = ManifestTrust.Judge(offer.Manifest.Span, offer.ManifestSignature.Span, _trustedKeys, _time.GetUtcNow());
        switch (verdict)
        {
            case ManifestVerdict.BadSignature:
                return await Refuse("E_MANIFEST_SIGNATURE", "manifest signature does not verify against the trusted key it names");
            case ManifestVerdict.UnknownKey:
                return await Refuse("E_MANIFEST_KEY_UNKNOWN", $"manifest is signed by key {ClaimedKeyId(offer)}, which this device does not trust");
            case ManifestVerdict.Malformed:
                return await Refuse("E_MANIFEST_INVALID", "signed manifest is not a canonical manifest");
            case ManifestVerdict.NoExpiry:
                return await Refuse("E_MANIFEST_EXPIRED", "manifest carries no expiry");
            case ManifestVerdict.Expired:
                return await Refuse("E_MANIFEST_EXPIRED", $"manifest expired at {judged!.Expires:yyyy-MM-dd'T'HH:mm:ss'Z'}");
        }

        var manifest = judged!;

        if (manifest.PackageId != offer.PackageId || manifest.Size != (long)offer.DownloadSize)
        {
            return await Refuse("E_MANIFEST_MISMATCH", "offer and signed manifest disagree on package id or size");
        }

        if (!manifest.Models.Contains(_behavior.Model))
        {
            return await Refuse("E_MODEL_MISMATCH", $"package is for {string.Join(", ", manifest.Models)}, not {_behavior.Model}");
        }

        // The floor is absolute: not even a signed rollback authorization reaches below it.
        if (manifest.SecurityVersion < _device.SecurityFloor)
        {
            return await Refuse("E_SECURITY_FLOOR",
                $"package security version {manifest.SecurityVersion} is below the device's floor {_device.SecurityFloor}");
        }

        var current = FirmwareVersion.Parse(_device.CurrentVersion);
        if (!FirmwareVersion.TryParse(manifest.Version, out var target, out _))
        {
            return await Refuse("E_MANIFEST_INVALID", $"manifest version '{manifest.Version}' does not parse");
        }

        // A version not above the running one only with the signed manifest's word that it may replace exactly this one.
        if (target <= current && !manifest.AuthorizesDowngradeFrom(current))
        {
            return await Refuse("E_DOWNGRADE", $"offered {manifest.Version} is not above running {current} and its manifest authorizes no rollback from it");
        }

        // A delta patches exactly one base image; applied to any other it would brick the slot.
        if (manifest.Kind == PackageKind.Delta
            && (!FirmwareVersion.TryParse(manifest.BaseVersion, out var baseVersion, out _) || baseVersion != current))
        {
            return await Refuse("E_DELTA_BASE_MISMATCH", $"delta base {manifest.BaseVersion} is not running {current}");
        }

        // A generated delta names its applier and the exact base image: checked before a byte is downloaded or written.
        if (manifest.DeltaFormat is not null || offer.PayloadFormat.Length > 0)
        {
            if (manifest.DeltaFormat != offer.PayloadFormat)
            {
                return await Refuse("E_MANIFEST_MISMATCH", $"offer says payload format '{offer.PayloadFormat}', the signed manifest '{manifest.DeltaFormat}'");
            }

            if (manifest.DeltaFormat != ZstdPatch.Format)
            {
                return await Refuse("E_DELTA_FORMAT", $"delta format '{manifest.DeltaFormat}' is not supported (this agent applies {ZstdPatch.Format})");
            }

            var baseSha = await HashFileAsync(_device.SlotPath(_device.ActiveSlot), ct);
            if (!string.Equals(baseSha, manifest.BaseSha256, StringComparison.OrdinalIgnoreCase))
            {
                // Not an install failure: the server learns the slot is not the delta's base and offers the FULL next.
                return await Refuse(OfferCloseCodes.DeltaBaseImageMismatch, $"active slot sha256 {baseSha} is not the delta's base {manifest.BaseSha256}");
            }
        }

        long received;
        try
        {
            received = await DownloadAsync(offer, manifest, ct);
        }
        catch (DeviceAgentException e) when (e.StatusCode == StatusCode.FailedPrecondition)
        {
            // A halt or cancel withdraws offers whose download has not started; the server owns the offer's end.
            return Finish(AgentOutcome.Withdrawn, 0, detail: e.Message);
        }

        await ReportAsync(offer, InstallStep.Downloaded, ct, bytes: manifest.Size);

        if (_behavior.CorruptDownload)
        {
            _device.CorruptDownload();
        }

        var actual = await HashDownloadAsync(ct);
        if (!string.Equals(actual, manifest.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            // Discard, so the next offer downloads afresh instead of resuming onto bad bytes.
            _device.DiscardDownload();
            var detail = $"sha256 {actual} != manifest {manifest.Sha256}";
            await ReportAsync(offer, InstallStep.Failed, ct, errorCode: "E_VERIFY_SHA256", detail: detail);
            return Finish(AgentOutcome.Failed, received, "E_VERIFY_SHA256", detail);
        }

        await ReportAsync(offer, InstallStep.Verified, ct);
        await ReportAsync(offer, InstallStep.Installing, ct);
        var oldSlot = _device.ActiveSlot;
        var newSlot = _device.InactiveSlot;
        if (_behavior.FailInstall)
        {
            _device.DiscardDownload();
            const string detail = "simulated write error on the inactive slot";
            await ReportAsync(offer, InstallStep.Failed, ct, errorCode: "E_INSTALL_WRITE", detail: detail);
            return Finish(AgentOutcome.Failed, received, "E_INSTALL_WRITE", detail);
        }

        if (manifest.DeltaFormat == ZstdPatch.Format)
        {
            var patched = await ApplyDeltaAsync(manifest, ct);
            if (!string.Equals(patched, manifest.TargetSha256, StringComparison.OrdinalIgnoreCase))
            {
                // The slot is never switched to: the active image stays what it was.
                File.Delete(_device.PatchedPath);
                _device.DiscardDownload();
                var detail = $"patched image sha256 {patched} != manifest target {manifest.TargetSha256}";
                await ReportAsync(offer, InstallStep.Failed, ct, errorCode: "E_DELTA_TARGET_SHA256", detail: detail);
                return Finish(AgentOutcome.Failed, received, "E_DELTA_TARGET_SHA256", detail);
            }

            _device.InstallPatched(newSlot, manifest.Version);
        }
        else
        {
            _device.InstallDownload(newSlot, manifest.Version);
        }

        await ReportAsync(offer, InstallStep.Installed, ct);

        // "Reboot": the boot slot flips; only a healthy boot of the new slot makes the install a success.
        _device.Boot(newSlot);
        if (_behavior.RollBackAfterReboot)
        {
            _device.Boot(oldSlot);
            _device.MarkSlotBad(newSlot);
            const string detail = "new slot failed its boot health check";
            await ReportAsync(offer, InstallStep.RolledBack, ct, errorCode: "E_BOOT_HEALTHCHECK", detail: detail,
                runningVersion: _device.CurrentVersion, slot: oldSlot);
            return Finish(AgentOutcome.RolledBack, received, "E_BOOT_HEALTHCHECK", detail);
        }

        // Only a healthy boot of the new image raises the floor: a slot that rolled back must stay bootable.
        _device.RaiseSecurityFloor(manifest.SecurityVersion);
        await ReportAsync(offer, InstallStep.Succeeded, ct, runningVersion: manifest.Version, slot: newSlot);
        return Finish(AgentOutcome.Succeeded, received);
    }

    /// <summary>The key id an unverified manifest claims, for the refusal's detail only.</summary>
    private static string ClaimedKeyId(Offer offer)
    {
        try
        {
            return ManifestCodec.Decode(offer.Manifest.Span).KeyId ?? "(none)";
        }
        catch (FormatException)
        {
            return "(unreadable)";
        }
    }

    /// <summary>Fills <c>download.part</c> up to the manifest size; returns the bytes received over the wire.</summary>
    private async Task<long> DownloadAsync(Offer offer, PackageManifest manifest, CancellationToken ct)
    {
        var size = manifest.Size;
        var held = _device.BeginDownload(manifest.PackageId, manifest.Sha256, size);
        var interruptAfter = _behavior.InterruptDownloadAfterBytes is > 0 ? _behavior.InterruptDownloadAfterBytes : null;
        var interval = _behavior.ProgressReportIntervalBytes;
        var nextProgress = interval > 0 ? held + interval : long.MaxValue;
        long received = 0;
        var failures = 0;

        await ReportAsync(offer, InstallStep.Downloading, ct, bytes: held);
        while (held < size)
        {
            var cut = false;
            try
            {
                // Resume: ask for exactly the bytes not yet on disk.
                var request = new DownloadRequest { DeviceId = _deviceId, OfferId = offer.OfferId, Offset = (ulong)held };
                using var call = _client.Download(request, Options(_behavior.DownloadTimeout, ct));
                await using var part = _device.OpenDownloadForAppend();
                await foreach (var chunk in call.ResponseStream.ReadAllAsync(ct))
                {
                    // A chunk elsewhere than the next byte, or bytes past the signed size, mean the stream and
                    // the file disagree; writing them would only fail the hash much later. Nothing bad was
                    // written yet, so download.part stays valid for a later resume.
                    if ((long)chunk.Offset != held || (long)chunk.TotalSize != size || held + chunk.Data.Length > size)
                    {
                        throw new DeviceAgentException(
                            $"Download of offer '{offer.OfferId}' sent {chunk.Data.Length} bytes at offset {chunk.Offset} "
                            + $"(total {chunk.TotalSize}); expected offset {held} of {size}.");
                    }

                    var data = chunk.Data.Memory;
                    if (interruptAfter is { } limit && received + data.Length >= limit)
                    {
                        // Keep only the bytes before the cut, possibly mid-chunk, so resumption is exercised at an odd offset.
                        data = data[..(int)(limit - received)];
                        interruptAfter = null;
                        cut = true;
                    }

                    await part.WriteAsync(data, ct);
                    held += data.Length;
                    received += data.Length;
                    if (cut)
                    {
                        break;
                    }

                    if (held >= nextProgress && held < size)
                    {
                        await part.FlushAsync(ct);
                        await ReportAsync(offer, InstallStep.Downloading, ct, bytes: held);
                        nextProgress = held + interval;
                    }
                }
            }
            catch (RpcException e) when (IsTransient(e.StatusCode) && ++failures < _behavior.MaxAttempts)
            {
                await BackoffAsync(failures, ct);
                cut = true;
            }
            catch (RpcException e)
            {
                throw Translate(e, "Download", ct);
            }

            if (held < size)
            {
                // A stream that ended early without an error is treated like a dropped connection.
                if (!cut && ++failures >= _behavior.MaxAttempts)
                {
                    throw new DeviceAgentException($"Download of offer '{offer.OfferId}' kept ending at byte {held} of {size}.");
                }

                await ReportAsync(offer, InstallStep.Downloading, ct, bytes: held);
            }
        }

        return received;
    }

    private Task<string> HashDownloadAsync(CancellationToken ct) => HashFileAsync(_device.DownloadPath, ct);

    // Streams the file through the hash: packages may be far larger than the memory of a device.
    private static async Task<string> HashFileAsync(string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, useAsync: true);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
    }

    /// <summary>
    /// Writes the active image patched by the downloaded delta to <see cref="SimulatedDevice.PatchedPath"/> and returns
    /// its SHA-256. The base image is the zstd reference prefix, as <c>zstd -d --patch-from</c> uses it.
    /// </summary>
    private async Task<string> ApplyDeltaAsync(PackageManifest manifest, CancellationToken ct)
    {
        var baseImage = await File.ReadAllBytesAsync(_device.SlotPath(_device.ActiveSlot), ct);
        await using (var patch = File.OpenRead(_device.DownloadPath))
        await using (var output = new FileStream(_device.PatchedPath, FileMode.Create, FileAccess.Write))
        {
            try
            {
                ZstdPatch.Apply(baseImage, patch, output, manifest.WindowLog, ct);
            }
            catch (InvalidDataException)
            {
                // A patch that does not decode is judged by the hash below, like any wrong output.
            }
        }

        return await HashFileAsync(_device.PatchedPath, ct);
    }

    private Task<ReportResponse> ReportAsync(
        Offer offer, InstallStep step, CancellationToken ct, long bytes = 0, string? errorCode = null,
        string? detail = null, string? runningVersion = null, Slot slot = Slot.Unspecified)
    {
        // The id is fixed before the first attempt: when an ack is lost, the retry must be the same report,
        // which the server acknowledges as a duplicate instead of applying twice.
        var request = new ReportRequest
        {
            DeviceId = _deviceId,
            OfferId = offer.OfferId,
            ReportId = Guid.NewGuid().ToString(),
            Step = step,
            BytesDownloaded = (ulong)bytes,
            ErrorCode = errorCode ?? string.Empty,
            Detail = detail ?? string.Empty,
            RunningVersion = runningVersion ?? string.Empty,
            ActiveSlot = slot,
        };
        return CallAsync($"Report {step}", o => _client.ReportAsync(request, o).ResponseAsync, ct);
    }

    /// <summary>Runs a unary call, retrying transient failures with exponential back-off and jitter.</summary>
    private async Task<T> CallAsync<T>(string operation, Func<CallOptions, Task<T>> call, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call(Options(_behavior.CallTimeout, ct));
            }
            catch (RpcException e) when (IsTransient(e.StatusCode) && attempt < _behavior.MaxAttempts)
            {
                await BackoffAsync(attempt, ct);
            }
            catch (RpcException e)
            {
                throw Translate(e, operation, ct);
            }
        }
    }

    private CallOptions Options(TimeSpan timeout, CancellationToken ct) =>
        new(_headers, DateTime.UtcNow + timeout, ct);

    // Unavailable: the server or the path to it is down for now. DeadlineExceeded: the call may or may not have
    // happened; both are safe to repeat because check-ins are idempotent and reports carry their id.
    private static bool IsTransient(StatusCode code) => code is StatusCode.Unavailable or StatusCode.DeadlineExceeded;

    private Task BackoffAsync(int attempt, CancellationToken ct)
    {
        var ceiling = Math.Min(_behavior.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1), _behavior.MaxRetryDelay.TotalMilliseconds);
        // Full jitter keeps a fleet that lost the server at once from coming back in lockstep.
        return Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling), _time, ct);
    }

    private Exception Translate(RpcException e, string operation, CancellationToken ct)
    {
        if (e.StatusCode == StatusCode.Cancelled && ct.IsCancellationRequested)
        {
            return new OperationCanceledException($"{operation} of device '{_deviceId}' was cancelled.", e, ct);
        }

        var why = IsTransient(e.StatusCode) ? $" (still failing after {_behavior.MaxAttempts} attempts)" : string.Empty;
        return new DeviceAgentException(
            $"{operation} of device '{_deviceId}' failed with {e.StatusCode}{why}: {e.Status.Detail}", e.StatusCode, e);
    }
}
