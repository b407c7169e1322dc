using Grpc.Core;
using Grpc.Health.V1;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Gateway;

/// <summary>Identity, roles and bad input: each gets its own status naming the problem, and changes nothing.</summary>
[Collection(NodeCollection.Name)]
public sealed class AuthAndValidationTests(NodeFixture fixture)
{
    private EmbeddedNodeHost Node => fixture.Node;

    [Fact]
    public async Task Health_ReportsServing()
    {
        var health = new Health.HealthClient(Node.Channel);

        var response = await health.CheckAsync(new HealthCheckRequest());

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, response.Status);
    }

    [Fact]
    public async Task AdminCall_WithoutKey_IsUnauthenticated()
    {
        var e = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Node.Admin.ListPackagesAsync(new ListPackagesRequest()).ResponseAsync);

        Assert.Contains("missing 'authorization: Bearer <admin API key>' header", e.Status.Detail);
    }

    [Fact]
    public async Task AdminCall_WithUnknownKey_IsUnauthenticated()
    {
        var e = await RpcAssert.FailsAsync(StatusCode.Unauthenticated,
            () => Node.Admin.ListPackagesAsync(new ListPackagesRequest(), EmbeddedNodeHost.Bearer("zak1_guess")).ResponseAsync);

        Assert.Equal("admin API key is not valid", e.Status.Detail);
    }

    [Fact]
    public async Task ViewerKey_ReadsButCannotUploadOrRegister()
    {
        var viewer = EmbeddedNodeHost.Bearer(NodeFixture.ViewerKey);

        await Node.Admin.ListPackagesAsync(new ListPackagesRequest(), viewer);
        var upload = await RpcAssert.FailsAsync(StatusCode.PermissionDenied,
            () => Scenario.UploadAsync(Node, Scenario.Full("AUTH-A", "A1.0"), [1, 2, 3], headers: viewer));
        var register = await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Node.Admin.RegisterDevicesAsync(
            new RegisterDevicesRequest { Devices = { new DeviceRegistration { DeviceId = "auth-viewer-1" } } }, viewer).ResponseAsync);

        Assert.Contains("key 'viewer-bot' has role 'viewer'", upload.Status.Detail);
        Assert.Contains("release-manager", register.Status.Detail);
        var lookup = await RpcAssert.FailsAsync(StatusCode.NotFound,
            () => Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "auth-viewer-1" }, Node.AdminHeaders).ResponseAsync);
        Assert.Contains("not registered", lookup.Status.Detail);
    }

    [Fact]
    public async Task DeviceCall_WithAnotherDevicesCredential_IsPermissionDenied()
    {
        var tokens = await Scenario.RegisterAsync(Node, "auth-dev-a", "auth-dev-b");

        var e = await RpcAssert.FailsAsync(StatusCode.PermissionDenied,
            () => Scenario.CheckInAsync(Node, "auth-dev-b", tokens["auth-dev-a"], Scenario.Facts("AUTH-M", "A1.0")));

        Assert.Equal("credential of device 'auth-dev-a' cannot act as device 'auth-dev-b'", e.Status.Detail);
        var b = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "auth-dev-b" }, Node.AdminHeaders);
        Assert.Null(b.LastCheckIn);
    }

    [Fact]
    public async Task DeviceCall_WithoutOrWithAWrongCredential_IsUnauthenticated()
    {
        var tokens = await Scenario.RegisterAsync(Node, "auth-dev-c");
        var forged = tokens["auth-dev-c"][..^4] + "AAAA";
        var request = new CheckInRequest { DeviceId = "auth-dev-c", Facts = Scenario.Facts("AUTH-M", "A1.0") };

        var missing = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Node.Devices.CheckInAsync(request).ResponseAsync);
        var wrong = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Node.Devices.CheckInAsync(request, EmbeddedNodeHost.Bearer(forged)).ResponseAsync);
        var adminKey = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Node.Devices.CheckInAsync(request, Node.AdminHeaders).ResponseAsync);

        Assert.Contains("missing", missing.Status.Detail);
        Assert.Equal("device credential is not valid", wrong.Status.Detail);
        Assert.Equal("authorization is not a device token", adminKey.Status.Detail);

        // The credential is judged before the request: bad facts with a forged token are still Unauthenticated.
        var badFacts = new CheckInRequest { DeviceId = "auth-dev-c", Facts = Scenario.Facts("AUTH-M", "not a version!") };
        var wrongAndBad = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => Node.Devices.CheckInAsync(badFacts, EmbeddedNodeHost.Bearer(forged)).ResponseAsync);
        Assert.Equal("device credential is not valid", wrongAndBad.Status.Detail);

        // A refused check-in records nothing (the grain checks the credential before it looks at the facts).
        var device = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "auth-dev-c" }, Node.AdminHeaders);
        Assert.Null(device.LastCheckIn);

        // The real token, not verified before at this gateway: one call verifies and checks in.
        var accepted = await Node.Devices.CheckInAsync(request, EmbeddedNodeHost.Bearer(tokens["auth-dev-c"]));
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, accepted.DecisionCase);
        Assert.NotNull((await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "auth-dev-c" }, Node.AdminHeaders)).LastCheckIn);
    }

    [Fact]
    public async Task RotatedCredential_ReplacesTheOldOne()
    {
        var old = await Scenario.RegisterAsync(Node, "auth-dev-r");

        var rotated = await Node.Admin.RegisterDevicesAsync(new RegisterDevicesRequest
        {
            Devices = { new DeviceRegistration { DeviceId = "auth-dev-r" } },
            RotateExisting = true,
        }, Node.AdminHeaders);
        var withNew = await Scenario.CheckInAsync(Node, "auth-dev-r", rotated.Credentials[0].Token, Scenario.Facts("AUTH-M", "A1.0"));

        Assert.NotEqual(old["auth-dev-r"], rotated.Credentials[0].Token);
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, withNew.DecisionCase);
    }

    [Fact]
    public async Task RegisterDevices_BadBatch_ListsEveryProblem_AndRegistersNone()
    {
        var request = new RegisterDevicesRequest
        {
            Devices =
            {
                new DeviceRegistration { DeviceId = "ok-1" },
                new DeviceRegistration { DeviceId = "has space" },
                new DeviceRegistration { DeviceId = "ok-1" },
                new DeviceRegistration { DeviceId = "" },
            },
        };

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Node.Admin.RegisterDevicesAsync(request, Node.AdminHeaders).ResponseAsync);

        Assert.Equal(new[] { "devices[1].device_id", "devices[2].device_id", "devices[3].device_id" }, RpcAssert.Fields(e));
        await RpcAssert.FailsAsync(StatusCode.NotFound,
            () => Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "ok-1" }, Node.AdminHeaders).ResponseAsync);
    }

    [Fact]
    public async Task RegisterDevices_AlreadyRegisteredWithoutRotate_IsAlreadyExists_AndChangesNothing()
    {
        var tokens = await Scenario.RegisterAsync(Node, "auth-dup-1");

        var e = await RpcAssert.FailsAsync(StatusCode.AlreadyExists, () => Scenario.RegisterAsync(Node, "auth-dup-2", "auth-dup-1"));

        Assert.Contains("auth-dup-1", e.Status.Detail);
        await Scenario.CheckInAsync(Node, "auth-dup-1", tokens["auth-dup-1"], Scenario.Facts("AUTH-M", "A1.0"));
        await RpcAssert.FailsAsync(StatusCode.NotFound,
            () => Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "auth-dup-2" }, Node.AdminHeaders).ResponseAsync);
    }

    [Fact]
    public async Task RegisterDevices_OverTheBatchLimit_IsResourceExhausted()
    {
        var request = new RegisterDevicesRequest();
        request.Devices.AddRange(Enumerable.Range(0, 1001).Select(i => new DeviceRegistration { DeviceId = $"bulk-{i}" }));

        var e = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted, () => Node.Admin.RegisterDevicesAsync(request, Node.AdminHeaders).ResponseAsync);

        Assert.Contains("at most 1000", e.Status.Detail);
    }

    [Fact]
    public async Task CheckIn_BadFacts_ListsEveryFieldByName_AndStoresNothing()
    {
        var tokens = await Scenario.RegisterAsync(Node, "auth-bad-facts");
        var facts = Scenario.Facts("", "not a version");
        facts.BatteryPercent = 101;
        facts.ActiveSlot = Slot.Unspecified;

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Scenario.CheckInAsync(Node, "auth-bad-facts", tokens["auth-bad-facts"], facts));
        var noFacts = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Node.Devices.CheckInAsync(
            new CheckInRequest { DeviceId = "auth-bad-facts" }, EmbeddedNodeHost.Bearer(tokens["auth-bad-facts"])).ResponseAsync);

        Assert.Equal(new[] { "facts.model", "facts.current_version", "facts.active_slot", "facts.battery_percent" }, RpcAssert.Fields(e));
        Assert.Equal(new[] { "facts" }, RpcAssert.Fields(noFacts));
        var device = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "auth-bad-facts" }, Node.AdminHeaders);
        Assert.Null(device.Facts);
    }

    [Fact]
    public async Task Report_BadFields_AreInvalidArgumentByName()
    {
        var tokens = await Scenario.RegisterAsync(Node, "auth-bad-report");

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Node.Devices.ReportAsync(
            new ReportRequest { DeviceId = "auth-bad-report", RunningVersion = "v 1" }, EmbeddedNodeHost.Bearer(tokens["auth-bad-report"])).ResponseAsync);

        Assert.Equal(new[] { "offer_id", "report_id", "step", "running_version" }, RpcAssert.Fields(e));
    }

    [Fact]
    public async Task CreateCampaign_BadPlan_ListsEveryProblem_AndCreatesNothing()
    {
        var pkg = await Scenario.UploadAsync(Node, Scenario.Delta("PLAN-A", "P1.0", "P2.0"), [9, 9, 9]);
        var plan = new CampaignPlan
        {
            Name = "",
            Targets =
            {
                new CampaignTarget { Model = "PLAN-A", PackageId = "pkg-missing" },
                new CampaignTarget { Model = "PLAN-B", PackageId = pkg.PackageId },
            },
            Eligibility = new Eligibility { MinCurrentVersion = "P3", MaxCurrentVersion = "P2" },
            InProgressTimeoutSeconds = 5,
        };

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Node.Admin.CreateCampaignAsync(
            new CreateCampaignRequest { CampaignId = "plan-bad", Plan = plan }, Node.AdminHeaders).ResponseAsync);

        Assert.Equal(
            new[]
            {
                "plan.name", "plan.targets[0].package_id", "plan.targets[1].package_id", "plan.targets[1].package_id",
                "plan.eligibility.max_current_version", "plan.in_progress_timeout_seconds",
            },
            RpcAssert.Fields(e));
        await RpcAssert.FailsAsync(StatusCode.NotFound,
            () => Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "plan-bad" }, Node.AdminHeaders).ResponseAsync);
    }

    [Fact]
    public async Task CampaignLifecycle_IllegalTransition_IsFailedPreconditionNamingTheState()
    {
        var pkg = await Scenario.UploadAsync(Node, Scenario.Full("LIFE-A", "L2.0"), [1, 2, 3, 4]);
        await Scenario.StartCampaignAsync(Node, "life-a", "LIFE-A", pkg.PackageId);
        var cancelled = await Node.Admin.CancelCampaignAsync(new CampaignRequest { CampaignId = "life-a", Reason = "wrong build" }, Node.AdminHeaders);

        var e = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Node.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = "life-a" }, Node.AdminHeaders).ResponseAsync);

        Assert.Contains("is CANCELED", e.Status.Detail);
        Assert.Equal(CampaignState.Canceled, cancelled.State);
        Assert.Equal(new[] { "create", "start", "cancel" }, cancelled.Audit.Select(a => a.Action).ToArray());
        Assert.Equal(("local-admin", "wrong build"), (cancelled.Audit[2].Actor, cancelled.Audit[2].Reason));
        var running = await Node.Admin.ListCampaignsAsync(new ListCampaignsRequest { State = CampaignState.Running }, Node.AdminHeaders);
        Assert.DoesNotContain(running.Campaigns, c => c.CampaignId == "life-a");
    }

    [Fact]
    public async Task UnknownCampaignOrBadId_AreNotFoundAndInvalidArgument()
    {
        await RpcAssert.FailsAsync(StatusCode.NotFound,
            () => Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "nope" }, Node.AdminHeaders).ResponseAsync);
        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "no/pe" }, Node.AdminHeaders).ResponseAsync);

        Assert.Equal(new[] { "campaign_id" }, RpcAssert.Fields(e));
    }
}
