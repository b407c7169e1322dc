using System.Security.Cryptography;
using Google.Protobuf;
using ZteRollout.Shared.Packages;
using V1 = ZteRollout.Device.V1;

namespace ZteRollout.Fuzz;

/// <summary>
/// Valid binary examples for the corpus (<c>zte-rollout-fuzz seed corpus/</c>), made by the product's own encoders:
/// device messages as protobuf and signed manifests. Text targets (plan, version, ddi) are seeded by hand-written files.
/// </summary>
public static class SeedCorpus
{
    public static void Write(string corpus)
    {
        var device = Directory.CreateDirectory(Path.Combine(corpus, "device")).FullName;
        Write(device, "checkin-full", new V1.CheckInRequest
        {
            DeviceId = "dev-000001",
            Facts = new V1.DeviceFacts
            {
                Model = "MF286D", HardwareRevision = "R2", Region = "EU", Carrier = "vodafone-de", CurrentVersion = "MF18.2.1.B07",
                ActiveSlot = V1.Slot.A, BatteryPercent = 87, FreeStorageBytes = 512UL * 1024 * 1024, AgentVersion = "agent-1.4.0",
            },
        });
        Write(device, "checkin-minimal", new V1.CheckInRequest
        {
            DeviceId = "d",
            Facts = new V1.DeviceFacts { Model = "M", CurrentVersion = "1", ActiveSlot = V1.Slot.B },
        });
        Write(device, "report-downloading", new V1.ReportRequest
        {
            DeviceId = "dev-000001", OfferId = "off-1", ReportId = "r-1", Step = V1.InstallStep.Downloading, BytesDownloaded = 65536,
        });
        Write(device, "report-failed", new V1.ReportRequest
        {
            DeviceId = "dev-000001", OfferId = "off-1", ReportId = "r-2", Step = V1.InstallStep.Failed,
            ErrorCode = "E_VERIFY_SHA256", Detail = "sha256 mismatch after download",
        });
        Write(device, "report-succeeded", new V1.ReportRequest
        {
            DeviceId = "dev-000001", OfferId = "off-1", ReportId = "r-3", Step = V1.InstallStep.Succeeded,
            RunningVersion = "MF18.2.1.B08", ActiveSlot = V1.Slot.B,
        });

        var manifests = Directory.CreateDirectory(Path.Combine(corpus, "manifest")).FullName;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        WriteSigned(manifests, "full", key, new PackageManifest(
            "pkg-4f2a", "MF18.2.1.B08", ["MF286D", "MF289F"], PackageKind.Full, null, 73_400_320, new string('c', 64)));
        WriteSigned(manifests, "delta-generated", key, new PackageManifest(
            "pkg-9d01", "MF18.2.1.B08", ["MF286D"], PackageKind.Delta, "MF18.2.1.B07", 1_048_576, new string('d', 64))
        {
            DeltaFormat = "zstd-patch-1", BaseSha256 = new string('b', 64), TargetSha256 = new string('e', 64), WindowLog = 27,
        });
        WriteSigned(manifests, "rollback", key, new PackageManifest(
            "pkg-77aa", "MF18.2.1.B06", ["MF286D"], PackageKind.Full, null, 73_400_000, new string('f', 64))
        {
            SecurityVersion = 3, RollbackFrom = ["MF18.2.1.B07", "MF18.2.1.B08"],
        });

        var signed = Directory.CreateDirectory(Path.Combine(corpus, "signed")).FullName;
        using var next = ReleaseKeys.Generate();
        var issued = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        File.WriteAllText(Path.Combine(signed, "manifest.json"), ManifestTrust.Sign(
            new PackageManifest("pkg-4f2a", "MF18.2.1.B08", ["MF286D"], PackageKind.Full, null, 73_400_320, new string('c', 64)),
            key, issued.AddDays(90)).ToJson());
        File.WriteAllText(Path.Combine(signed, "rotation.json"), KeyRotationStatement.Sign(
            key, next.ExportSubjectPublicKeyInfoPem(), [ReleaseKeys.KeyId(key)], issued).ToJson());
    }

    private static void Write(string folder, string name, IMessage message) =>
        File.WriteAllBytes(Path.Combine(folder, name + ".bin"), message.ToByteArray());

    private static void WriteSigned(string folder, string name, ECDsa key, PackageManifest manifest)
    {
        var bytes = ManifestCodec.Encode(manifest);
        var signature = key.SignData(bytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        File.WriteAllBytes(Path.Combine(folder, name + ".bin"), [.. bytes, .. signature]);
    }
}
