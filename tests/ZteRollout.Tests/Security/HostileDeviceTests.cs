using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Shared.Devices;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Security;

/// <summary>
/// Devices that are not who they say, send too much, or call too often (issue 10, points 1–3): each is refused at the
/// gateway, before it costs a grain, a storage read or memory, while well-behaved devices are served.
/// </summary>
[Collection(SecurityNodeCollection.Name)]
public sealed class HostileDeviceTests(SecurityNodeFixture fixture)
{
    private EmbeddedNodeHost Node => fixture.Node;

    [Fact]
    public async Task TenThousandForgedCheckIns_CreateNoStateNoActivation_AndLeaveMemoryFlat()
    {
        // Well-formed tokens of this server's shape and key id, for random device ids, with tags the server never made.
        var keyId = fixture.TokenMac.CurrentKeyId;
        string Forged(int i) =>
            $"zdt2:forged-{i}-{RandomNumberGenerator.GetHexString(8, lowercase: true)}:{keyId}.{Base64(32)}.{Base64(16)}";
        await ForgedCheckInsAsync(500, Forged);
        var rowsBefore = fixture.StorageRows();
        var activationsBefore = await fixture.ActivationsAsync();
        var (verifiedBefore, refusedBefore) = (fixture.Authenticator.VerifiedCount, fixture.Authenticator.RefusedCount);
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);

        var refusals = await ForgedCheckInsAsync(10_000, Forged);

        var memoryGrowth = GC.GetTotalMemory(forceFullCollection: true) - memoryBefore;
        Assert.Equal(10_000, refusals.Count(d => d == "device credential is not valid"));
        Assert.Equal(rowsBefore, fixture.StorageRows());
        Assert.Equal(activationsBefore, await fixture.ActivationsAsync());
        Assert.Equal((verifiedBefore, refusedBefore), (fixture.Authenticator.VerifiedCount, fixture.Authenticator.RefusedCount));

        // Nothing is kept per forged call; what may grow is pooled buffers, bounded by the concurrency (16 calls).
        Assert.True(memoryGrowth < 8 * 1024 * 1024, $"managed memory grew by {memoryGrowth:N0} bytes over 10,000 forged check-ins");
    }

    [Fact]
    public async Task UnsignedTokensOfTheOldFormat_AreRefusedWithoutAGrain_ByDefault()
    {
        var activationsBefore = await fixture.ActivationsAsync();

        var refusals = await ForgedCheckInsAsync(200, i => DeviceIdentity.NewToken($"legacy-{i}"));

        Assert.All(refusals, d => Assert.Equal("device credential is not valid", d));
        Assert.Equal(activationsBefore, await fixture.ActivationsAsync());
    }

    [Fact]
    public async Task HeaderVariantsOfOneValidToken_AreOneCacheEntry()
    {
        var token = (await Scenario.RegisterAsync(Node, "sec-variants"))["sec-variants"];
        var cachedBefore = fixture.Authenticator.VerifiedCount;
        string[] headers = ["Bearer " + token, "bearer " + token, "BEARER " + token, "Bearer    " + token];

        foreach (var header in headers)
        {
            await Node.Devices.CheckInAsync(
                new CheckInRequest { DeviceId = "sec-variants", Facts = Scenario.Facts("SEC-M", "S1.0") }, new Metadata { { "authorization", header } });
        }

        Assert.Equal(cachedBefore + 1, fixture.Authenticator.VerifiedCount);
    }

    [Fact]
    public async Task AnOversizedAuthorizationHeader_IsRefusedBeforeAuthentication()
    {
        var token = (await Scenario.RegisterAsync(Node, "sec-long-header"))["sec-long-header"];
        var padded = "Bearer " + new string(' ', 1100) + token;
        var cachedBefore = fixture.Authenticator.VerifiedCount;

        var e = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Node.Devices.CheckInAsync(
            new CheckInRequest { DeviceId = "sec-long-header", Facts = Scenario.Facts("SEC-M", "S1.0") }, new Metadata { { "authorization", padded } }).ResponseAsync);

        Assert.Equal("authorization header is longer than 1024 characters", e.Status.Detail);
        Assert.Equal(cachedBefore, fixture.Authenticator.VerifiedCount);
        Assert.Null((await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "sec-long-header" }, Node.AdminHeaders)).LastCheckIn);
    }

    [Fact]
    public async Task HeadersOverKestrelsBound_AreCutBeforeTheService()
    {
        var token = (await Scenario.RegisterAsync(Node, "sec-huge-header"))["sec-huge-header"];
        var headers = EmbeddedNodeHost.Bearer(token);
        headers.Add("x-padding", new string('p', 20 * 1024));

        var e = await Assert.ThrowsAsync<RpcException>(() => Node.Devices.CheckInAsync(
            new CheckInRequest { DeviceId = "sec-huge-header", Facts = Scenario.Facts("SEC-M", "S1.0") }, headers).ResponseAsync);

        Assert.NotEqual(StatusCode.OK, e.StatusCode);
        Assert.Null((await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "sec-huge-header" }, Node.AdminHeaders)).LastCheckIn);
    }

    [Fact]
    public async Task AnOversizedDeviceMessage_IsRefusedUnread_WithOrWithoutAValidToken()
    {
        var token = (await Scenario.RegisterAsync(Node, "sec-big-message"))["sec-big-message"];
        var facts = Scenario.Facts("SEC-M", "S1.0");
        facts.Carrier = new string('c', 70 * 1024);
        var request = new CheckInRequest { DeviceId = "sec-big-message", Facts = facts };

        var forged = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted,
            () => Node.Devices.CheckInAsync(request, EmbeddedNodeHost.Bearer($"zdt2:sec-big-message:{fixture.TokenMac.CurrentKeyId}.{Base64(32)}.{Base64(16)}")).ResponseAsync);
        var valid = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted,
            () => Node.Devices.CheckInAsync(request, EmbeddedNodeHost.Bearer(token)).ResponseAsync);

        Assert.Contains("exceeds the maximum configured message size", forged.Status.Detail);
        Assert.Contains("exceeds the maximum configured message size", valid.Status.Detail);
        Assert.Null((await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "sec-big-message" }, Node.AdminHeaders)).LastCheckIn);
    }

    [Fact]
    public async Task ARefusedToken_IsRememberedAndRefusedAgainWithoutAGrainCall()
    {
        var old = (await Scenario.RegisterAsync(Node, "sec-rotated"))["sec-rotated"];
        await Node.Admin.RegisterDevicesAsync(new RegisterDevicesRequest
        {
            Devices = { new DeviceRegistration { DeviceId = "sec-rotated" } },
            RotateExisting = true,
        }, Node.AdminHeaders);
        var refusedBefore = fixture.Authenticator.RefusedCount;

        var first = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Scenario.CheckInAsync(Node, "sec-rotated", old, Scenario.Facts("SEC-M", "S1.0")));
        var again = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Scenario.CheckInAsync(Node, "sec-rotated", old, Scenario.Facts("SEC-M", "S1.0")));

        Assert.Equal("device credential is not valid", first.Status.Detail);
        Assert.Equal("device credential is not valid", again.Status.Detail);
        Assert.Equal(refusedBefore + 1, fixture.Authenticator.RefusedCount);
    }

    [Fact]
    public async Task ADeviceFloodingReports_GetsResourceExhaustedWithARetryHint_WhileOthersAreServed()
    {
        var tokens = await Scenario.RegisterAsync(Node, "sec-flood", "sec-calm");

        // Its reports name no offer (NotFound), but each one counts: the limit is on calls, before the grain.
        for (var i = 0; i < SecurityNodeFixture.CallsPerDevice; i++)
        {
            await RpcAssert.FailsAsync(StatusCode.NotFound, () => Scenario.ReportAsync(Node, "sec-flood", tokens["sec-flood"], "of-none", InstallStep.Downloading));
        }

        var flooded = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted,
            () => Scenario.ReportAsync(Node, "sec-flood", tokens["sec-flood"], "of-none", InstallStep.Downloading));
        var checkIn = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted,
            () => Scenario.CheckInAsync(Node, "sec-flood", tokens["sec-flood"], Scenario.Facts("SEC-M", "S1.0")));
        var calm = await Scenario.CheckInAsync(Node, "sec-calm", tokens["sec-calm"], Scenario.Facts("SEC-M", "S1.0"));

        Assert.StartsWith("device 'sec-flood' is over its limit of check-ins and reports; retry after ", flooded.Status.Detail);
        Assert.Equal(3600, int.Parse(flooded.Trailers.GetValue("retry-after")!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(StatusCode.ResourceExhausted, checkIn.StatusCode);
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, calm.DecisionCase);
    }

    [Fact]
    public async Task ADeviceOpeningMoreDownloadsThanItsLimit_GetsResourceExhausted_WhileItsFirstStreams()
    {
        var bytes = Scenario.RandomBytes(3 * 1024 * 1024, seed: 10);
        var package = await Scenario.UploadAsync(Node, Scenario.Full("SEC-DL", "D2.0"), bytes);
        await Scenario.StartCampaignAsync(Node, "sec-dl", "SEC-DL", package.PackageId);
        var tokens = await Scenario.RegisterAsync(Node, "sec-dl-1");
        var offer = (await Scenario.CheckInAsync(Node, "sec-dl-1", tokens["sec-dl-1"], Scenario.Facts("SEC-DL", "D1.0"))).Offer;
        var request = new DownloadRequest { DeviceId = "sec-dl-1", OfferId = offer.OfferId };

        // The first stream has started (a chunk arrived) and is held open by not reading further.
        using var first = Node.Devices.Download(request, EmbeddedNodeHost.Bearer(tokens["sec-dl-1"]));
        Assert.True(await first.ResponseStream.MoveNext(CancellationToken.None));
        using var second = Node.Devices.Download(request, EmbeddedNodeHost.Bearer(tokens["sec-dl-1"]));
        var e = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted, () => second.ResponseStream.MoveNext(CancellationToken.None));

        Assert.StartsWith("device 'sec-dl-1' already streams its limit of concurrent downloads; retry after 5 s", e.Status.Detail);
        Assert.Equal("5", e.Trailers.GetValue("retry-after"));
        Assert.Equal(0UL, first.ResponseStream.Current.Offset);
    }

    [Fact]
    public async Task AnOffer_TakesABoundedNumberOfProgressReports_ThenTheNextStep()
    {
        var package = await Scenario.UploadAsync(Node, Scenario.Full("SEC-PR", "P2.0"), [1, 2, 3, 4]);
        await Scenario.StartCampaignAsync(Node, "sec-pr", "SEC-PR", package.PackageId);
        var token = (await Scenario.RegisterAsync(Node, "sec-pr-1"))["sec-pr-1"];
        var offer = (await Scenario.CheckInAsync(Node, "sec-pr-1", token, Scenario.Facts("SEC-PR", "P1.0"))).Offer;

        // The first DOWNLOADING moves the offer; the ones after it are progress.
        for (var i = 0; i < 1 + SecurityNodeFixture.ProgressReportsPerOffer; i++)
        {
            await Scenario.ReportAsync(Node, "sec-pr-1", token, offer.OfferId, InstallStep.Downloading);
        }

        var e = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted,
            () => Scenario.ReportAsync(Node, "sec-pr-1", token, offer.OfferId, InstallStep.Downloading));

        Assert.Equal($"offer '{offer.OfferId}' took its limit of 2 DOWNLOADING progress reports; report the next step", e.Status.Detail);
    }

    private async Task<string[]> ForgedCheckInsAsync(int count, Func<int, string> token)
    {
        var refusals = new string[count];
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            var presented = token(i);
            var deviceId = DeviceIdentity.TryParseToken(presented, out var id, out _) ? id : $"forged-{i}";
            try
            {
                await Node.Devices.CheckInAsync(new CheckInRequest { DeviceId = deviceId, Facts = Scenario.Facts("SEC-M", "S1.0") },
                    EmbeddedNodeHost.Bearer(presented), cancellationToken: ct);
                refusals[i] = "accepted";
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unauthenticated)
            {
                refusals[i] = e.Status.Detail;
            }
        });
        return refusals;
    }

    private static string Base64(int bytes) => System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(bytes));
}
