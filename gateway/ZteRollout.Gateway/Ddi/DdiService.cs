using ZteRollout.Shared.Telemetry;
using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Blobs;
using ZteRollout.Gateway.Errors;
using ZteRollout.Gateway.Services;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Gateway.Ddi;

/// <summary>
/// hawkBit DDI v1 for existing device agents (SWUpdate's suricatta, rauc-hawkbit-updater), on the same device grain
/// calls as the gRPC device API: a poll is a check-in on the stored facts, configData a check-in with new facts, the
/// deploymentBase the open offer, feedback reports into the same lifecycle, a download the same grant and blob store.
/// Each call authenticates first (a missing or malformed credential, or one for another controller, reaches no grain).
/// </summary>
public sealed class DdiService(
    IGrainFactory grains,
    DeviceAuthenticator authenticator,
    DdiGatewayTokens gatewayTokens,
    DeviceCallRetry retry,
    DdiArtifacts artifacts,
    BlobStore blobs,
    IOptions<DdiOptions> options,
    ILogger<DdiService> logger)
{
    private const string TargetTokenScheme = "TargetToken ";
    private const string GatewayTokenScheme = "GatewayToken ";
    private static readonly JsonDocumentOptions JsonOptions = new() { MaxDepth = 16, AllowTrailingCommas = true };

    /// <summary>The check-in interval the device grain answers when none is known (hawkBit's default).</summary>
    private static readonly TimeSpan DefaultSleep = TimeSpan.FromMinutes(5);

    private DdiOptions Options => options.Value;

    /// <summary><c>GET {root}</c>: one check-in on the stored facts; the links say what the agent should do next.</summary>
    public Task PollAsync(HttpContext http, string tenant, string controllerId) => RunAsync(http, tenant, controllerId, async () =>
    {
        var ct = http.RequestAborted;
        StoredFactsCheckIn? poll;
        if (CachedDevice(http, controllerId) is { } known)
        {
            poll = await retry.RunAsync(() => known.Grain.CheckInWithStoredFactsAsync(null), ct);
        }
        else if (IsGatewayToken(http))
        {
            var device = await ForGatewayAsync(http, controllerId);
            try
            {
                poll = await retry.RunAsync(() => device.Grain.CheckInWithStoredFactsAsync(null), ct);
            }
            catch (RolloutException e) when (e.Kind == RolloutErrorKind.NotFound && Options.GatewayTokenAutoRegister)
            {
                await RegisterForGatewayAsync(device, ct);
                poll = await retry.RunAsync(() => device.Grain.CheckInWithStoredFactsAsync(null), ct);
            }
        }
        else
        {
            // Not verified lately: the device grain checks the secret and checks in within one call, as for gRPC.
            var token = Presented(http, controllerId);
            poll = await retry.RunAsync(() => token.Device.Grain.CheckInWithStoredFactsAsync(token.SecretHash), ct)
                ?? throw DdiProblem.Unauthorized("device credential is not valid");
            authenticator.Remember(token);
        }

        var interval = Options.PollingInterval
            ?? (poll!.CheckIn is { } decided ? TimeSpan.FromSeconds(decided.NextCheckInSeconds) : DefaultSleep);
        var offer = poll!.CheckIn is { Outcome: CheckInOutcome.Offer, Offer: { } open } ? ActionId(open) : (int?)null;
        var cancel = poll.CancelNotice is { } canceled ? ActionId(canceled) : (int?)null;
        await WriteJsonAsync(http, DdiResponses.Root(DdiResponses.Sleep(interval), Links(http, tenant, controllerId), offer, cancel, poll.FactsRequested));
    });

    /// <summary><c>PUT configData</c>: the agent's attributes become the device's facts, and it checks in with them.</summary>
    public Task PutConfigDataAsync(HttpContext http, string tenant, string controllerId) => RunAsync(http, tenant, controllerId, async () =>
    {
        var body = await ReadJsonAsync(http);
        var config = DdiAttributes.Parse(body, Options);
        var device = await AuthenticateAsync(http, controllerId);
        try
        {
            await retry.RunAsync(() => device.Grain.MergeFactsAsync(config.Patch, config.Replace), http.RequestAborted);
        }
        catch (RolloutException e) when (e.Kind == RolloutErrorKind.InvalidArgument && e.Violations.Count == 1)
        {
            var attribute = Options.Attributes.NameOf(e.Violations[0].Field);
            throw DdiProblem.BadRequest($"data.{attribute} {e.Violations[0].Description}");
        }

        Ok(http);
    });

    /// <summary><c>GET deploymentBase/{id}</c> (or <c>installedBase/{id}</c>): the offer as an action with its one artifact.</summary>
    public Task GetDeploymentAsync(HttpContext http, string tenant, string controllerId, string actionText, bool installed) =>
        RunAsync(http, tenant, controllerId, async () =>
        {
            var actionId = ParseActionId(actionText, "actionId");
            var device = await AuthenticateAsync(http, controllerId);
            var offer = await FindAsync(device, actionId, http.RequestAborted);
            if (offer.Status == OfferStatus.Canceled)
            {
                throw DdiProblem.NotFound($"action {actionId} was canceled");
            }

            if (installed && offer.Status != OfferStatus.Succeeded)
            {
                throw DdiProblem.NotFound($"action {actionId} is not installed");
            }

            var artifact = await artifacts.GetAsync(offer.PackageId, http.RequestAborted);
            await WriteJsonAsync(http, DdiResponses.Deployment(actionId, offer, artifact, Links(http, tenant, controllerId)));
        });

    /// <summary>
    /// <c>POST deploymentBase/{id}/feedback</c>: the agent's status as reports (<see cref="DdiFeedbackMapping"/>);
    /// exactly 200 when applied (both agents treat 201 and 204 as errors), 410 once the action is closed.
    /// </summary>
    public Task PostDeploymentFeedbackAsync(HttpContext http, string tenant, string controllerId, string actionText) =>
        RunAsync(http, tenant, controllerId, async () =>
        {
            var actionId = ParseActionId(actionText, "actionId");
            var feedback = DdiFeedbackMapping.Parse(await ReadJsonAsync(http));
            var device = await AuthenticateAsync(http, controllerId);
            var offer = await FindAsync(device, actionId, http.RequestAborted);
            var reports = DdiFeedbackMapping.ToReports(feedback, offer);
            if (InstallLifecycle.IsTerminal(offer.Status))
            {
                // The same closing feedback again (its answer was lost) is acknowledged; anything else is late.
                if (reports.Count > 0 && offer.AppliedReportIds.Contains(reports[^1].ReportId))
                {
                    Ok(http);
                    return;
                }

                throw DdiProblem.Gone($"action {actionId} is closed ({offer.Status.ToString().ToUpperInvariant()}); it takes no more feedback");
            }

            foreach (var report in reports)
            {
                await retry.RunAsync(() => device.Grain.ReportAsync(report), http.RequestAborted);
            }

            Ok(http);
        });

    /// <summary><c>GET cancelAction/{id}</c>: shown for an offer its campaign canceled, until the agent acknowledges it.</summary>
    public Task GetCancelAsync(HttpContext http, string tenant, string controllerId, string actionText) => RunAsync(http, tenant, controllerId, async () =>
    {
        var actionId = ParseActionId(actionText, "actionId");
        var device = await AuthenticateAsync(http, controllerId);
        _ = await retry.RunAsync(() => device.Grain.FindCancelingOfferAsync(actionId), http.RequestAborted)
            ?? throw DdiProblem.NotFound($"action {actionId} is not being canceled");
        await WriteJsonAsync(http, DdiResponses.Cancel(actionId));
    });

    /// <summary>
    /// <c>POST cancelAction/{id}/feedback</c>: the agent's acknowledgement. An offer withdrawn before it started is
    /// closed already; one the agent was downloading closes now, as CANCELED (not a failure). A refusal ("rejected",
    /// "closed/failure") is logged and taken as an acknowledgement too: the campaign has ended either way.
    /// </summary>
    public Task PostCancelFeedbackAsync(HttpContext http, string tenant, string controllerId, string actionText) =>
        RunAsync(http, tenant, controllerId, async () =>
        {
            var actionId = ParseActionId(actionText, "actionId");
            var feedback = DdiFeedbackMapping.Parse(await ReadJsonAsync(http));
            var device = await AuthenticateAsync(http, controllerId);
            var offer = await FindAsync(device, actionId, http.RequestAborted);
            if (feedback.Execution == "rejected" || feedback.IsFailure)
            {
                logger.LogInformation("DDI controller {Controller} refused to cancel action {Action}: {Details}", controllerId, actionId, string.Join(" | ", feedback.Details));
            }

            try
            {
                await retry.RunAsync(async () => { await device.Grain.AcknowledgeCancelAsync(offer.OfferId); return true; }, http.RequestAborted);
            }
            catch (RolloutException e) when (e.Kind == RolloutErrorKind.FailedPrecondition)
            {
                throw DdiProblem.Conflict($"action {actionId} is not being canceled: {e.Message}");
            }

            Ok(http);
        });

    /// <summary><c>GET softwaremodules/{id}/artifacts</c>: the module's one artifact, as a list.</summary>
    public Task ListArtifactsAsync(HttpContext http, string tenant, string controllerId, string moduleText) => RunAsync(http, tenant, controllerId, async () =>
    {
        var actionId = ParseActionId(moduleText, "softwareModuleId");
        var device = await AuthenticateAsync(http, controllerId);
        var offer = await FindAsync(device, actionId, http.RequestAborted);
        var artifact = await artifacts.GetAsync(offer.PackageId, http.RequestAborted);
        await WriteJsonAsync(http, new JsonArray(DdiResponses.Artifact(actionId, artifact, Links(http, tenant, controllerId))));
    });

    /// <summary>
    /// <c>GET|HEAD softwaremodules/{id}/artifacts/{file}</c>: the package bytes under the same grant as the gRPC
    /// download (an open offer of this device), with <c>Range: bytes=N-</c> (206, or 416 at the end) and <c>.MD5SUM</c>.
    /// </summary>
    public Task DownloadAsync(HttpContext http, string tenant, string controllerId, string moduleText, string fileName) =>
        RunAsync(http, tenant, controllerId, async () =>
        {
            var ct = http.RequestAborted;
            var actionId = ParseActionId(moduleText, "softwareModuleId");
            var device = await AuthenticateAsync(http, controllerId);
            var offer = await FindAsync(device, actionId, ct);
            var artifact = await artifacts.GetAsync(offer.PackageId, ct);
            if (fileName == artifact.FileName + ".MD5SUM")
            {
                http.Response.StatusCode = StatusCodes.Status200OK;
                http.Response.ContentType = "text/plain";
                await http.Response.WriteAsync($"{artifact.Md5}  {artifact.FileName}", ct);
                return;
            }

            if (fileName != artifact.FileName)
            {
                throw DdiProblem.NotFound($"action {actionId} has no artifact '{fileName}'");
            }

            await SendBytesAsync(http, device, offer, artifact, ct);
        });

    private async Task SendBytesAsync(HttpContext http, AuthenticatedDevice device, OfferRecord offer, DdiArtifact artifact, CancellationToken ct)
    {
        var response = http.Response;
        response.Headers.AcceptRanges = "bytes";
        response.Headers.ETag = $"\"{artifact.Sha1}\"";
        var (start, end) = RangeOf(http.Request, artifact.Size);
        if (start >= artifact.Size)
        {
            // At (or past) the end: nothing left to send. rauc-hawkbit-updater takes this as "already complete".
            response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
            response.Headers.ContentRange = $"bytes */{artifact.Size}";
            return;
        }

        var grant = await retry.RunAsync(() => device.Grain.AuthorizeDownloadAsync(offer.OfferId, start), ct);
        end = Math.Min(end, grant.Size - 1);
        var partial = start > 0 || end < grant.Size - 1;
        response.StatusCode = partial ? StatusCodes.Status206PartialContent : StatusCodes.Status200OK;
        if (partial)
        {
            response.Headers.ContentRange = $"bytes {start}-{end}/{grant.Size}";
        }

        response.ContentType = "application/octet-stream";
        response.ContentLength = end - start + 1;
        response.Headers.ContentDisposition = $"attachment; filename={artifact.FileName}";
        if (HttpMethods.IsHead(http.Request.Method))
        {
            return;
        }

        FileStream file;
        try
        {
            file = blobs.OpenRead(grant.Sha256, start);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DdiProblem(StatusCodes.Status500InternalServerError, "zte.ddi.dataLoss", $"package bytes {grant.Sha256} are missing from the blob store");
        }

        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            await using (file)
            {
                // The grant's size bounds what is sent, whatever the file on disk holds.
                var left = end - start + 1;
                while (left > 0)
                {
                    var read = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct);
                    if (read == 0)
                    {
                        // Headers are gone already; a short body is what the client will see and resume from.
                        logger.LogError("package bytes {Sha256} are shorter than their manifest's {Size} bytes", grant.Sha256, grant.Size);
                        http.Abort();
                        return;
                    }

                    await response.Body.WriteAsync(buffer.AsMemory(0, read), ct);
                    RolloutMetrics.Downloaded(read, "ddi");
                    left -= read;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The byte range asked for: <c>bytes=N-</c> or <c>bytes=N-M</c>; the whole file otherwise (several ranges or a
    /// malformed header are answered with all of it, which RFC 9110 allows).
    /// </summary>
    public static (long Start, long End) RangeOf(HttpRequest request, long size)
    {
        var header = request.Headers.Range.ToString();
        if (!header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase) || header.Contains(','))
        {
            return (0, size - 1);
        }

        var spec = header[6..].Trim();
        var dash = spec.IndexOf('-');
        if (dash <= 0 || !long.TryParse(spec.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var start))
        {
            return (0, size - 1);
        }

        var endText = spec[(dash + 1)..];
        if (endText.Length == 0)
        {
            return (start, size - 1);
        }

        return long.TryParse(endText, NumberStyles.None, CultureInfo.InvariantCulture, out var end) && end >= start
            ? (start, Math.Min(end, size - 1))
            : (0, size - 1);
    }

    private async Task<OfferRecord> FindAsync(AuthenticatedDevice device, int actionId, CancellationToken ct) =>
        await retry.RunAsync(() => device.Grain.FindOfferAsync(actionId), ct)
            ?? throw DdiProblem.NotFound($"controller '{device.DeviceId}' has no action {actionId}");

    /// <summary>The action id an offer goes by: its number, which fits a signed 32-bit integer as SWUpdate reads it.</summary>
    public static int ActionId(OfferRecord offer) =>
        OfferNumbers.Of(offer.OfferId) is { } number and > 0 and <= int.MaxValue
            ? (int)number
            : throw new InvalidOperationException($"offer '{offer.OfferId}' has no action number");

    private static int ParseActionId(string text, string name) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0
            ? id
            : throw DdiProblem.BadRequest($"{name} '{text}' must be a positive whole number");

    /// <summary>The caller's device: from the verified-token cache, or checked by its grain. Refusals never reach a grain.</summary>
    private async ValueTask<AuthenticatedDevice> AuthenticateAsync(HttpContext http, string controllerId)
    {
        if (CachedDevice(http, controllerId) is { } known)
        {
            return known;
        }

        if (IsGatewayToken(http))
        {
            return await ForGatewayAsync(http, controllerId);
        }

        var token = Presented(http, controllerId);
        if (!await authenticator.VerifyAsync(token, http.RequestAborted))
        {
            throw DdiProblem.Unauthorized("device credential is not valid");
        }

        return token.Device;
    }

    private AuthenticatedDevice? CachedDevice(HttpContext http, string controllerId) =>
        authenticator.Cached(http.Request.Headers.Authorization.ToString()) is { } known && known.DeviceId == controllerId ? known : null;

    /// <summary>The presented device token, checked for form and for naming this controller; not verified yet.</summary>
    private PresentedToken Presented(HttpContext http, string controllerId)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith(TargetTokenScheme, StringComparison.Ordinal))
        {
            throw DdiProblem.Unauthorized("missing 'Authorization: TargetToken <device token>' (or 'GatewayToken <gateway token>') header");
        }

        var token = authenticator.TryParse(header, header[TargetTokenScheme.Length..].Trim())
            ?? throw DdiProblem.Unauthorized("the TargetToken is not a ZteRollout device token (zdt1:<device id>:<secret>, as RegisterDevices issues it)");
        if (token.Device.DeviceId != controllerId)
        {
            throw DdiProblem.Unauthorized($"the TargetToken is not controller '{controllerId}''s");
        }

        return token;
    }

    private static bool IsGatewayToken(HttpContext http) =>
        http.Request.Headers.Authorization.ToString().StartsWith(GatewayTokenScheme, StringComparison.Ordinal);

    /// <summary>The controller's device for a caller with a valid gateway token (which may act for any device).</summary>
    private async ValueTask<AuthenticatedDevice> ForGatewayAsync(HttpContext http, string controllerId)
    {
        var header = http.Request.Headers.Authorization.ToString();
        _ = await gatewayTokens.VerifyAsync(header, header[GatewayTokenScheme.Length..].Trim(), http.RequestAborted)
            ?? throw DdiProblem.Unauthorized("gateway token is not valid");
        return new AuthenticatedDevice(controllerId, grains.Device(controllerId));
    }

    /// <summary>Registers an unknown controller polling through a gateway token, with a credential nobody holds.</summary>
    private async Task RegisterForGatewayAsync(AuthenticatedDevice device, CancellationToken ct)
    {
        try
        {
            var unknowable = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
            await retry.RunAsync(async () => { await device.Grain.RegisterAsync(unknowable, [], rotate: false); return true; }, ct);
            logger.LogInformation("DDI controller {Controller} registered through a gateway token", device.DeviceId);
        }
        catch (RolloutException e) when (e.Kind == RolloutErrorKind.AlreadyExists)
        {
            // Registered meanwhile by another poll.
        }
    }

    private DdiLinks Links(HttpContext http, string tenant, string controllerId)
    {
        var request = http.Request;
        var baseUrl = Options.PublicBaseUrl is { Length: > 0 } configured ? configured : $"{request.Scheme}://{request.Host}{request.PathBase}";
        return new DdiLinks(baseUrl, tenant, controllerId);
    }

    /// <summary>
    /// Runs one DDI call: checks the tenant and controller id (no grain is reached otherwise), and turns every refusal
    /// into a 4xx naming the problem; only a fault of ours is a 500, and a cluster that cannot answer now a 503.
    /// </summary>
    private async Task RunAsync(HttpContext http, string tenant, string controllerId, Func<Task> call)
    {
        try
        {
            if (DdiListener.PortOf(Options.Url) is > 0 and var port && http.Connection.LocalPort != port)
            {
                // DDI is served on its own listener only.
                throw DdiProblem.NotFound($"hawkBit DDI is served on port {port}");
            }

            if (!string.Equals(tenant, Options.Tenant, StringComparison.OrdinalIgnoreCase))
            {
                throw DdiProblem.NotFound($"tenant '{tenant}' is unknown; this server serves tenant '{Options.Tenant}'");
            }

            if (DeviceIdentity.ValidateId(controllerId) is { } problem)
            {
                throw DdiProblem.BadRequest($"controllerId '{controllerId}' {problem}");
            }

            await call();
        }
        catch (Exception e) when (!http.Response.HasStarted && Problem(e, http) is { } refusal)
        {
            await refusal.WriteAsync(http.Response);
        }
    }

    private DdiProblem? Problem(Exception e, HttpContext http)
    {
        switch (e)
        {
            case DdiProblem ddi:
                return ddi;
            case RolloutException domain:
                return domain.Kind switch
                {
                    RolloutErrorKind.InvalidArgument => DdiProblem.BadRequest(domain.Message),
                    RolloutErrorKind.NotFound or RolloutErrorKind.PermissionDenied => DdiProblem.NotFound(domain.Message),
                    RolloutErrorKind.FailedPrecondition => DdiProblem.Gone(domain.Message),
                    RolloutErrorKind.OutOfRange => new DdiProblem(StatusCodes.Status416RangeNotSatisfiable, "zte.ddi.rangeNotSatisfiable", domain.Message),
                    RolloutErrorKind.ResourceExhausted => new DdiProblem(StatusCodes.Status429TooManyRequests, "zte.ddi.tooManyRequests", domain.Message),
                    RolloutErrorKind.AlreadyExists => DdiProblem.Conflict(domain.Message),
                    _ => Unavailable(domain.Message),
                };
            case OperationCanceledException when http.RequestAborted.IsCancellationRequested:
                return null;
            case not null when ErrorMappingInterceptor.IsTransient(e):
                logger.LogWarning(e, "DDI {Path}: cluster unavailable", http.Request.Path);
                return Unavailable("the rollout service is temporarily unavailable; retry: " + e.Message);
            default:
                logger.LogError(e, "DDI {Path}: unexpected error", http.Request.Path);
                return new DdiProblem(StatusCodes.Status500InternalServerError, "zte.ddi.internal", "internal error; see server logs");
        }
    }

    private static DdiProblem Unavailable(string message) => new(StatusCodes.Status503ServiceUnavailable, "zte.ddi.unavailable", message);

    /// <summary>The request body as JSON, at most <see cref="DdiOptions.MaxBodyBytes"/>; 413 or 400 naming the problem otherwise.</summary>
    private async Task<JsonElement> ReadJsonAsync(HttpContext http)
    {
        var limit = Options.MaxBodyBytes;
        if (http.Request.ContentLength > limit)
        {
            throw DdiProblem.TooLarge($"body of {http.Request.ContentLength} bytes exceeds the limit of {limit} bytes");
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw DdiProblem.TooLarge($"body exceeds the limit of {limit} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        if (buffer.Length == 0)
        {
            throw DdiProblem.BadRequest("body is empty; a JSON object is required");
        }

        return ParseBody(buffer.ToArray());
    }

    /// <summary>A request body read whole as JSON (depth bounded); 400 naming the problem otherwise. Fuzzed.</summary>
    public static JsonElement ParseBody(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body, JsonOptions);
            RequireReadableStrings(document.RootElement);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw DdiProblem.BadRequest("body is not valid JSON: " + e.Message);
        }
        catch (InvalidOperationException)
        {
            throw DdiProblem.BadRequest(NotUnicodeText);
        }
    }

    private const string NotUnicodeText = "body has a string that is not valid Unicode text";

    // JsonDocument checks a body's structure, not the text inside its strings: invalid UTF-8 or an escaped lone
    // surrogate throws only when that string is read, which was a 500 halfway through mapping (found by fuzzing). Every
    // name and string is read once here, so the mapping that follows reads only good text. Depth is bounded by the parse.
    private static void RequireReadableStrings(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    _ = property.Name;
                    RequireReadableStrings(property.Value);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    RequireReadableStrings(item);
                }

                break;
            case JsonValueKind.String:
                _ = element.GetString();
                break;
        }
    }

    /// <summary>Exactly 200 with an empty body: SWUpdate 2022.12 and rauc-hawkbit-updater take 201 or 204 as errors.</summary>
    private static void Ok(HttpContext http)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentLength = 0;
    }

    private static Task WriteJsonAsync(HttpContext http, JsonNode body)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(body.ToJsonString(), http.RequestAborted);
    }
}
