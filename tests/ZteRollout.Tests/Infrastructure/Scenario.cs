using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>A running system the tests talk to over gRPC: the embedded node or a cluster behind a gateway.</summary>
public interface IRolloutEndpoint
{
    RolloutAdmin.RolloutAdminClient Admin { get; }

    DeviceUpdate.DeviceUpdateClient Devices { get; }

    Metadata AdminHeaders { get; }

    string DataDirectory { get; }
}

/// <summary>Admin-API steps the gateway tests share: upload, register, create and start a campaign.</summary>
public static class Scenario
{
    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static PackageMetadata Full(string model, string version, uint minBattery = 0, ulong requiredFree = 0) => new()
    {
        Version = version,
        TargetModels = { model },
        Kind = PackageKind.Full,
        MinBatteryPercent = minBattery,
        RequiredFreeBytes = requiredFree,
        ReleaseNotes = "test build",
    };

    public static PackageMetadata Delta(string model, string baseVersion, string version) => new()
    {
        Version = version,
        TargetModels = { model },
        Kind = PackageKind.Delta,
        BaseVersion = baseVersion,
    };

    public static async Task<Package> UploadAsync(IRolloutEndpoint node, PackageMetadata metadata, byte[] bytes, int chunk = 64 * 1024, Metadata? headers = null)
    {
        using var call = node.Admin.UploadPackage(headers ?? node.AdminHeaders);
        try
        {
            await call.RequestStream.WriteAsync(new UploadPackageRequest { Metadata = metadata });
            for (var offset = 0; offset < bytes.Length; offset += chunk)
            {
                await call.RequestStream.WriteAsync(new UploadPackageRequest { Chunk = ByteString.CopyFrom(bytes, offset, Math.Min(chunk, bytes.Length - offset)) });
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The server answered (refused) while the client was still sending; the answer is on the response.
        }

        return await call;
    }

    /// <summary>Registers devices and returns their tokens by id.</summary>
    public static async Task<Dictionary<string, string>> RegisterAsync(IRolloutEndpoint node, params string[] deviceIds)
    {
        var request = new RegisterDevicesRequest();
        request.Devices.AddRange(deviceIds.Select(id => new DeviceRegistration { DeviceId = id }));
        var response = await node.Admin.RegisterDevicesAsync(request, node.AdminHeaders);
        return response.Credentials.ToDictionary(c => c.DeviceId, c => c.Token);
    }

    public static async Task<Campaign> StartCampaignAsync(IRolloutEndpoint node, string campaignId, string model, string fullPackageId, uint timeoutSeconds = 3600)
    {
        var plan = new CampaignPlan
        {
            Name = campaignId,
            Targets = { new CampaignTarget { Model = model, PackageId = fullPackageId } },
            Eligibility = new Eligibility { Models = { model } },
            InProgressTimeoutSeconds = timeoutSeconds,
        };
        await node.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = campaignId, Plan = plan }, node.AdminHeaders);
        return await node.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = campaignId, Reason = "test" }, node.AdminHeaders);
    }

    public static DeviceFacts Facts(string model, string version, uint battery = 80, ulong freeBytes = 8UL << 30) => new()
    {
        Model = model,
        HardwareRevision = "R1",
        Region = "EU",
        Carrier = "zte-test",
        CurrentVersion = version,
        ActiveSlot = Slot.A,
        BatteryPercent = battery,
        FreeStorageBytes = freeBytes,
        AgentVersion = "test-1",
    };

    public static Task<CheckInResponse> CheckInAsync(IRolloutEndpoint node, string deviceId, string token, DeviceFacts facts) =>
        node.Devices.CheckInAsync(new CheckInRequest { DeviceId = deviceId, Facts = facts }, EmbeddedNodeHost.Bearer(token)).ResponseAsync;

    public static Task<ReportResponse> ReportAsync(
        IRolloutEndpoint node, string deviceId, string token, string offerId, InstallStep step, string? reportId = null, string runningVersion = "", string errorCode = "") =>
        node.Devices.ReportAsync(new ReportRequest
        {
            DeviceId = deviceId,
            OfferId = offerId,
            ReportId = reportId ?? Guid.NewGuid().ToString("N"),
            Step = step,
            RunningVersion = runningVersion,
            ErrorCode = errorCode,
            ActiveSlot = step == InstallStep.Succeeded ? Slot.B : Slot.Unspecified,
        }, EmbeddedNodeHost.Bearer(token)).ResponseAsync;

    /// <summary>Downloads an offer from an offset and returns the bytes and each chunk's offset.</summary>
    public static async Task<(byte[] Bytes, List<ulong> Offsets)> DownloadAsync(IRolloutEndpoint node, string deviceId, string token, string offerId, ulong offset = 0)
    {
        using var call = node.Devices.Download(new DownloadRequest { DeviceId = deviceId, OfferId = offerId, Offset = offset }, EmbeddedNodeHost.Bearer(token));
        using var buffer = new MemoryStream();
        var offsets = new List<ulong>();
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            offsets.Add(chunk.Offset);
            chunk.Data.WriteTo(buffer);
        }

        return (buffer.ToArray(), offsets);
    }

    public static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
