using ZteRollout.Shared.Telemetry;
using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Options;
using ZteRollout.Device.V1;
using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Blobs;
using ZteRollout.Gateway.Errors;
using ZteRollout.Gateway.Limits;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Gateway.Services;

/// <summary>
/// The device API: each call authenticates the device and checks it acts as itself, counts against the device's rate
/// limits, and only then validates the request and makes one grain call. Errors become statuses through
/// <see cref="ErrorMappingInterceptor.Map"/>, called here rather than as an interceptor.
/// </summary>
public sealed class DeviceUpdateService(
    DeviceAuthenticator authenticator, ErrorMappingInterceptor errors, BlobStore blobs, IOptions<GatewayOptions> options, DeviceCallRetry retry, GatewayRateLimits limits,
    DeviceClientCertificates certificates)
    : DeviceUpdate.DeviceUpdateBase
{
    public override async Task<CheckInResponse> CheckIn(CheckInRequest request, ServerCallContext context)
    {
        try
        {
            return await CheckInCoreAsync(request, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw errors.Map(e, context);
        }
    }

    public override async Task Download(DownloadRequest request, IServerStreamWriter<DownloadChunk> responseStream, ServerCallContext context)
    {
        try
        {
            await DownloadCoreAsync(request, responseStream, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw errors.Map(e, context);
        }
    }

    public override async Task<ReportResponse> Report(ReportRequest request, ServerCallContext context)
    {
        try
        {
            return await ReportCoreAsync(request, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw errors.Map(e, context);
        }
    }

    private async Task<CheckInResponse> CheckInCoreAsync(CheckInRequest request, ServerCallContext context)
    {
        // The credential first, then the request: a caller without a valid token gets its facts neither parsed nor checked.
        certificates.Require(request.DeviceId, context);
        if (authenticator.Cached(context) is { } known && known.DeviceId == request.DeviceId)
        {
            limits.RequireDeviceCall(known.DeviceId);
            var knownFacts = ValidFacts(request);
            return DeviceRequests.ToProto(await retry.RunAsync(() => known.Grain.CheckInAsync(knownFacts), context.CancellationToken));
        }

        // Not verified lately (a device that checks in every few minutes, usually). The MAC is checked here, without a
        // grain; then the device grain verifies the credential and checks in within one call, rather than one call to
        // verify and another to check in.
        var token = authenticator.Parse(context);
        if (token.Device.DeviceId != request.DeviceId)
        {
            await SelfAsync(request.DeviceId, context);
        }

        limits.RequireDeviceCall(token.Device.DeviceId);
        var problems = new ViolationList();
        var facts = DeviceRequests.ToFacts(request.Facts, problems);
        if (problems.Count > 0)
        {
            // A refusal either way: the credential is judged first, as for every device call, then the request.
            await SelfAsync(request.DeviceId, context);
            problems.ThrowIfAny();
        }

        var result = await retry.RunAsync(() => token.Device.Grain.CheckInWithCredentialAsync(token.SecretHash, facts), context.CancellationToken);
        if (result is null)
        {
            authenticator.RememberRefusal(token);
            throw DeviceAuthenticator.NotValid();
        }

        authenticator.Remember(token);
        return DeviceRequests.ToProto(result);
    }

    private static ZteRollout.Shared.Devices.DeviceFacts ValidFacts(CheckInRequest request)
    {
        var problems = new ViolationList();
        var facts = DeviceRequests.ToFacts(request.Facts, problems);
        problems.ThrowIfAny();
        return facts;
    }

    private async Task DownloadCoreAsync(DownloadRequest request, IServerStreamWriter<DownloadChunk> responseStream, ServerCallContext context)
    {
        var device = await SelfAsync(request.DeviceId, context);
        using var slot = limits.AcquireDownload(request.DeviceId);
        if (string.IsNullOrEmpty(request.OfferId))
        {
            throw RolloutException.InvalidField("offer_id", "is required");
        }

        if (request.Offset > long.MaxValue)
        {
            throw RolloutException.OutOfRange($"offset {request.Offset} is past the end of the package");
        }

        var grant = await retry.RunAsync(() => device.AuthorizeDownloadAsync(request.OfferId, (long)request.Offset), context.CancellationToken);
        var chunkSize = Math.Clamp(options.Value.DownloadChunkBytes, 16 * 1024, 1024 * 1024);
        FileStream file;
        try
        {
            file = blobs.OpenRead(grant.Sha256, (long)request.Offset);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RpcException(new Status(StatusCode.DataLoss, $"package bytes {grant.Sha256} are missing from the blob store"));
        }

        // One pooled buffer per stream, lent to every chunk without a copy. A chunk copied into a new array each time
        // lands on the large object heap once it passes 85,000 bytes, and only gen-2 collections reclaim that.
        // Grpc.AspNetCore serializes a message into the response pipe before its WriteAsync completes, and nothing keeps
        // the message after that, so the buffer may be refilled once the write is awaited. An interceptor that held on to
        // streamed messages would break this; the device service has none.
        var buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
        try
        {
            await using (file)
            {
                var position = (long)request.Offset;

                // The manifest's size bounds the stream, whatever the file on disk holds.
                while (position < grant.Size)
                {
                    var want = (int)Math.Min(chunkSize, grant.Size - position);
                    var read = await file.ReadAtLeastAsync(buffer.AsMemory(0, want), want, throwOnEndOfStream: false, context.CancellationToken);
                    if (read < want)
                    {
                        throw new RpcException(new Status(StatusCode.DataLoss, $"package bytes {grant.Sha256} are shorter than the manifest's {grant.Size} bytes"));
                    }

                    await responseStream.WriteAsync(new DownloadChunk
                    {
                        Offset = (ulong)position,
                        Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, read)),
                        TotalSize = (ulong)grant.Size,
                    }, context.CancellationToken);
                    position += read;
                    RolloutMetrics.Downloaded(read, "grpc");
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<ReportResponse> ReportCoreAsync(ReportRequest request, ServerCallContext context)
    {
        var device = await SelfAsync(request.DeviceId, context);
        limits.RequireDeviceCall(request.DeviceId);
        var problems = new ViolationList();
        var report = DeviceRequests.ToReport(request, problems);
        problems.ThrowIfAny();
        var result = await retry.RunAsync(() => device.ReportAsync(report), context.CancellationToken);
        return new ReportResponse { Status = DeviceRequests.ToProto(result.Status), Duplicate = result.Duplicate };
    }

    /// <summary>The caller's own device grain; a credential for one device never acts on another.</summary>
    private async ValueTask<IDeviceGrain> SelfAsync(string requestedId, ServerCallContext context)
    {
        certificates.Require(requestedId, context);
        var authenticated = await authenticator.AuthenticateAsync(context);
        if (authenticated.DeviceId == requestedId)
        {
            return authenticated.Grain;
        }

        if (DeviceIdentity.ValidateId(requestedId) is { } problem)
        {
            throw RolloutException.InvalidField("device_id", problem);
        }

        throw RolloutException.PermissionDenied($"credential of device '{authenticated.DeviceId}' cannot act as device '{requestedId}'");
    }
}
