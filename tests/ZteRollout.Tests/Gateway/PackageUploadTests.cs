using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Shared.Packages;
using PackageKind = ZteRollout.Admin.V1.PackageKind;
using PackageMetadata = ZteRollout.Admin.V1.PackageMetadata;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Gateway;

[Collection(NodeCollection.Name)]
public sealed class PackageUploadTests(NodeFixture fixture)
{
    private EmbeddedNodeHost Node => fixture.Node;

    [Fact]
    public async Task Upload_ComputesSizeAndHash_AndSignsAManifestTheExportedKeyVerifies()
    {
        var bytes = Scenario.RandomBytes(200_000, seed: 1);

        var package = await Scenario.UploadAsync(Node, Scenario.Full("UP-A", "UPA1.0.1"), bytes);
        var key = await Node.Admin.GetSigningKeyAsync(new GetSigningKeyRequest(), Node.AdminHeaders);

        Assert.Equal(200_000UL, package.Size);
        Assert.Equal(Scenario.Sha256Hex(bytes), package.Sha256);
        Assert.Equal("ECDSA-P256-SHA256", key.Algorithm);
        Assert.True(ManifestSignature.Verify(package.Manifest.ToByteArray(), package.ManifestSignature.ToByteArray(), key.PublicKeyPem));
        var manifest = ManifestCodec.Decode(package.Manifest.Span);
        Assert.Equal(new[] { "UP-A" }, manifest.Models.ToArray());
        Assert.Equal(("UPA1.0.1", true, 200_000L, package.Sha256, package.PackageId),
            (manifest.Version, manifest.Kind == ZteRollout.Shared.Packages.PackageKind.Full, manifest.Size, manifest.Sha256, manifest.PackageId));

        var tampered = package.Manifest.ToByteArray();
        tampered[^3] ^= 1;
        Assert.False(ManifestSignature.Verify(tampered, package.ManifestSignature.ToByteArray(), key.PublicKeyPem));
    }

    [Fact]
    public async Task Upload_SamePackageTwice_ReturnsTheStoredPackage()
    {
        var bytes = Scenario.RandomBytes(10_000, seed: 2);

        var first = await Scenario.UploadAsync(Node, Scenario.Full("UP-B", "UPB1.0"), bytes);
        var second = await Scenario.UploadAsync(Node, Scenario.Full("UP-B", "UPB1.0"), bytes);

        Assert.Equal(first.PackageId, second.PackageId);
        Assert.Equal(first.ManifestSignature, second.ManifestSignature);
        var list = await Node.Admin.ListPackagesAsync(new ListPackagesRequest { Model = "UP-B" }, Node.AdminHeaders);
        Assert.Single(list.Packages);
    }

    [Fact]
    public async Task Upload_SameModelVersionKindWithOtherBytes_IsAlreadyExists()
    {
        await Scenario.UploadAsync(Node, Scenario.Full("UP-C", "UPC1.0"), Scenario.RandomBytes(5_000, seed: 3));

        var e = await RpcAssert.FailsAsync(StatusCode.AlreadyExists,
            () => Scenario.UploadAsync(Node, Scenario.Full("UP-C", "UPC1.0"), Scenario.RandomBytes(5_000, seed: 4)));

        Assert.Contains("UP-C", e.Status.Detail);
        var list = await Node.Admin.ListPackagesAsync(new ListPackagesRequest { Model = "UP-C" }, Node.AdminHeaders);
        Assert.Single(list.Packages);
    }

    [Fact]
    public async Task Upload_WithoutBytes_IsInvalidArgument()
    {
        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Scenario.UploadAsync(Node, Scenario.Full("UP-D", "UPD1.0"), []));

        Assert.Equal(new[] { "chunk" }, RpcAssert.Fields(e));
        var list = await Node.Admin.ListPackagesAsync(new ListPackagesRequest { Model = "UP-D" }, Node.AdminHeaders);
        Assert.Empty(list.Packages);
    }

    [Fact]
    public async Task Upload_LargerThanTheLimit_IsResourceExhausted_AndStoresNothing()
    {
        var bytes = Scenario.RandomBytes((int)NodeFixture.MaxPackageBytes + 1, seed: 5);

        var e = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted, () => Scenario.UploadAsync(Node, Scenario.Full("UP-E", "UPE1.0"), bytes, chunk: 512 * 1024));

        Assert.Contains($"{NodeFixture.MaxPackageBytes} bytes", e.Status.Detail);
        var list = await Node.Admin.ListPackagesAsync(new ListPackagesRequest { Model = "UP-E" }, Node.AdminHeaders);
        Assert.Empty(list.Packages);
        Assert.Empty(Directory.GetFiles(Path.Combine(Node.DataDirectory, "blobs", "tmp")));
    }

    [Fact]
    public async Task Upload_OneMessageOverTheMessageLimit_IsResourceExhausted()
    {
        var e = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted,
            () => Scenario.UploadAsync(Node, Scenario.Full("UP-G", "UPG1.0"), Scenario.RandomBytes(9 * 1024 * 1024, seed: 8), chunk: 9 * 1024 * 1024));

        Assert.Contains("message", e.Status.Detail, StringComparison.OrdinalIgnoreCase);
        var list = await Node.Admin.ListPackagesAsync(new ListPackagesRequest { Model = "UP-G" }, Node.AdminHeaders);
        Assert.Empty(list.Packages);
    }

    [Fact]
    public async Task Upload_DeclaredHashDiffers_IsInvalidArgumentOnThatField()
    {
        var metadata = Scenario.Full("UP-F", "UPF1.0");
        metadata.ExpectedSha256 = new string('a', 64);

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Scenario.UploadAsync(Node, metadata, Scenario.RandomBytes(1000, seed: 6)));

        Assert.Equal(new[] { "metadata.expected_sha256" }, RpcAssert.Fields(e));
    }

    [Fact]
    public async Task Upload_BadMetadata_ListsEveryProblemByField()
    {
        var metadata = new PackageMetadata { Version = "1..2", Kind = PackageKind.Delta, MinBatteryPercent = 140 };

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Scenario.UploadAsync(Node, metadata, Scenario.RandomBytes(10, seed: 7)));

        Assert.Equal(
            new[] { "metadata.version", "metadata.target_models", "metadata.base_version", "metadata.min_battery_percent" },
            RpcAssert.Fields(e));
    }

    [Fact]
    public async Task Upload_StartingWithBytes_IsInvalidArgument()
    {
        using var call = Node.Admin.UploadPackage(Node.AdminHeaders);
        await call.RequestStream.WriteAsync(new UploadPackageRequest { Chunk = Google.Protobuf.ByteString.CopyFrom(1, 2, 3) });
        await call.RequestStream.CompleteAsync();

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => call.ResponseAsync);

        Assert.Equal(new[] { "metadata" }, RpcAssert.Fields(e));
    }

    [Fact]
    public async Task GetPackage_Unknown_IsNotFound()
    {
        var e = await RpcAssert.FailsAsync(StatusCode.NotFound,
            () => Node.Admin.GetPackageAsync(new GetPackageRequest { PackageId = "pkg-nope" }, Node.AdminHeaders).ResponseAsync);

        Assert.Contains("pkg-nope", e.Status.Detail);
    }
}
