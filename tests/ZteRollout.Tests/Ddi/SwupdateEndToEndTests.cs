using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;
using ZteRollout.Admin.V1;
using ZteRollout.Tests.Infrastructure;
using OfferStatus = ZteRollout.Device.V1.OfferStatus;

namespace ZteRollout.Tests.Ddi;

/// <summary>One embedded node whose DDI listener tells agents to poll every second, for the real-agent tests.</summary>
public sealed class SwupdateNodeFixture : IAsyncLifetime
{
    private readonly string _dataDirectory = TestPaths.NewTempDirectory("swupdate-node");

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 1, 8, 0, 0, TimeSpan.Zero));

    public EmbeddedNodeHost Node { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Node = await EmbeddedNodeHost.StartAsync(_dataDirectory, Clock, "--Rollout:Ddi:PollingInterval=00:00:01", "--Rollout:Ddi:GatewayTokenAutoRegister=true");

    public async Task DisposeAsync()
    {
        await Node.DisposeAsync();
        TestPaths.TryDelete(_dataDirectory);
    }
}

/// <summary>
/// Debian's SWUpdate (2022.12, suricatta hawkBit mode) updates through the DDI facade unchanged: a real signed .swu,
/// the real binary, the node's real listener. Needs <c>swupdate</c>, <c>cpio</c> and <c>openssl</c> (.ci/run installs them).
/// </summary>
public sealed class SwupdateEndToEndTests(SwupdateNodeFixture fixture, ITestOutputHelper output) : IClassFixture<SwupdateNodeFixture>
{
    private static readonly TimeSpan AgentDeadline = TimeSpan.FromSeconds(90);

    private EmbeddedNodeHost Node => fixture.Node;

    [Fact]
    public async Task Swupdate_InstallsTheSignedSwu_ThenReportsSuccessAfterRestartWithState2_CountedOnce()
    {
        using var work = new SwupdateWorkspace("swu-ok", output);
        var payload = Scenario.RandomBytes(200_000, seed: 11);
        var swu = await work.BuildSwuAsync(payload, declaredSha256: Convert.ToHexStringLower(SHA256.HashData(payload)));
        var token = await CampaignAsync("SWU-OK", "swu-ok-1", swu);

        // First run: the agent sends its attributes, installs, and reports "All Chunks Installed." (not yet success).
        await using (var first = work.StartSwupdate(Node.DdiAddress!, "swu-ok-1", "SWU-OK", token, currentVersion: "R1.0"))
        {
            await WaitForAsync("swu-ok-1", OfferStatus.Installed, first);
        }

        Assert.Equal(payload, await File.ReadAllBytesAsync(Path.Combine(work.Directory, "out", "payload.bin")));
        var installed = await CountsAsync("SWU-OK");
        Assert.Equal((1UL, 0UL), (installed.Installed, installed.Succeeded));

        // The "reboot": a new process started with -c 2 finds the action still open and closes it as a success.
        await using (var second = work.StartSwupdate(Node.DdiAddress!, "swu-ok-1", "SWU-OK", token, currentVersion: "R2.0", state: 2))
        {
            await WaitForAsync("swu-ok-1", OfferStatus.Succeeded, second);
        }

        var counts = await CountsAsync("SWU-OK");
        Assert.Equal((1UL, 0UL, 0UL), (counts.Succeeded, counts.Failed, counts.Installed));
        var device = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "swu-ok-1" }, Node.AdminHeaders);
        Assert.Equal("R2.0", device.CurrentVersion);
        Assert.Equal((long?)1, Shared.Devices.OfferNumbers.Of(device.CurrentOffer.OfferId));
    }

    [Fact]
    public async Task Swupdate_ImageFailingItsHash_IsReportedFailedWithTheErrorCode()
    {
        using var work = new SwupdateWorkspace("swu-bad", output);
        var payload = Scenario.RandomBytes(50_000, seed: 12);
        // Signed, but sw-description declares the hash of other bytes: the installer refuses the image.
        var swu = await work.BuildSwuAsync(payload, declaredSha256: Convert.ToHexStringLower(SHA256.HashData(Scenario.RandomBytes(50_000, seed: 13))));
        var token = await CampaignAsync("SWU-BAD", "swu-bad-1", swu);

        await using (var agent = work.StartSwupdate(Node.DdiAddress!, "swu-bad-1", "SWU-BAD", token, currentVersion: "R1.0"))
        {
            await WaitForAsync("swu-bad-1", OfferStatus.Failed, agent);
        }

        var device = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "swu-bad-1" }, Node.AdminHeaders);
        // SWUpdate 2022.12 sends its error lines with the failure; which ones depends on how far the stream got.
        output.WriteLine("error code: " + device.CurrentOffer.ErrorCode);
        Assert.Equal(OfferStatus.Failed, device.CurrentOffer.Status);
        Assert.Contains(device.CurrentOffer.ErrorCode, (string[])["E_DDI_ERROR_HASH_MISMATCH", "E_DDI_NO_SUITABLE_SWU_IMAGE_FOUND"]);
        var counts = await CountsAsync("SWU-BAD");
        Assert.Equal((0UL, 1UL), (counts.Succeeded, counts.Failed));
    }

    [Fact]
    public async Task Swupdate_DownloadCutMidway_ResumesWithRange_AndInstallsTheWholeImage()
    {
        using var work = new SwupdateWorkspace("swu-resume", output);
        var payload = Scenario.RandomBytes(400_000, seed: 14);
        var swu = await work.BuildSwuAsync(payload, declaredSha256: Convert.ToHexStringLower(SHA256.HashData(payload)));
        var token = await CampaignAsync("SWU-RESUME", "swu-resume-1", swu);
        await using var proxy = new InterruptingProxy(new Uri(Node.DdiAddress!).Port, "update.swu", cutAfterBytes: 150_000);

        await using (var agent = work.StartSwupdate(proxy.Address, "swu-resume-1", "SWU-RESUME", token, currentVersion: "R1.0"))
        {
            await WaitForAsync("swu-resume-1", OfferStatus.Installed, agent);
        }

        Assert.True(proxy.Cut);
        var resumedFrom = Assert.Single(proxy.RangeRequests);
        Assert.Matches(@"^bytes=[1-9][0-9]*-$", resumedFrom);
        output.WriteLine("resumed with Range: " + resumedFrom);
        Assert.Equal(payload, await File.ReadAllBytesAsync(Path.Combine(work.Directory, "out", "payload.bin")));
    }

    [Fact]
    public async Task Swupdate_OfferOfACanceledCampaign_IsShownAsCancelAction_AndTheAgentAcknowledgesIt()
    {
        using var work = new SwupdateWorkspace("swu-cancel", output);
        var payload = Scenario.RandomBytes(20_000, seed: 15);
        var swu = await work.BuildSwuAsync(payload, declaredSha256: Convert.ToHexStringLower(SHA256.HashData(payload)));
        var token = await CampaignAsync("SWU-CANCEL", "swu-cancel-1", swu);

        // The device took its offer at an earlier poll (our own client stands in for it), then the campaign is canceled.
        using var earlier = new DdiClient(Node.DdiAddress!, "swu-cancel-1", token);
        using (var put = await earlier.PutConfigDataAsync("""{"model":"SWU-CANCEL","version":"R1.0"}"""))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, put.StatusCode);
        }

        Assert.NotNull(DdiClient.Link(await earlier.PollAsync(), "deploymentBase"));
        await Node.Admin.CancelCampaignAsync(new CampaignRequest { CampaignId = "c-SWU-CANCEL", Reason = "wrong build" }, Node.AdminHeaders);
        Assert.NotNull(DdiClient.Link(await earlier.PollAsync(), "cancelAction"));

        await using (var agent = work.StartSwupdate(Node.DdiAddress!, "swu-cancel-1", "SWU-CANCEL", token, currentVersion: "R1.0"))
        {
            var deadline = DateTime.UtcNow + AgentDeadline;
            while (DdiClient.Link(await earlier.PollAsync(), "cancelAction") is not null)
            {
                Assert.True(DateTime.UtcNow < deadline && !agent.HasExited, "the cancelAction was never acknowledged; swupdate:\n" + agent.Log);
                await Task.Delay(TimeSpan.FromMilliseconds(250));
            }
        }

        var device = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "swu-cancel-1" }, Node.AdminHeaders);
        Assert.Equal(OfferStatus.Canceled, device.CurrentOffer.Status);
        Assert.False(File.Exists(Path.Combine(work.Directory, "out", "payload.bin")));
    }

    [Fact]
    public async Task Swupdate_WithAGatewayToken_UnknownControllerIsRegistered_AndInstalls()
    {
        using var work = new SwupdateWorkspace("swu-gw", output);
        var payload = Scenario.RandomBytes(30_000, seed: 16);
        var swu = await work.BuildSwuAsync(payload, declaredSha256: Convert.ToHexStringLower(SHA256.HashData(payload)));
        var metadata = Scenario.Full("SWU-GW", "R2.0");
        metadata.Filename = "update.swu";
        var package = await Scenario.UploadAsync(Node, metadata, swu);
        await Scenario.StartCampaignAsync(Node, "c-SWU-GW", "SWU-GW", package.PackageId);
        var gateway = await Node.Admin.CreateDdiGatewayTokenAsync(new CreateDdiGatewayTokenRequest { Name = "swu-edge" }, Node.AdminHeaders);

        await using (var agent = work.StartSwupdate(Node.DdiAddress!, "swu-gw-1", "SWU-GW", gateway.Secret, currentVersion: "R1.0", gatewayToken: true))
        {
            await WaitForAsync("swu-gw-1", OfferStatus.Installed, agent);
        }

        Assert.Equal(payload, await File.ReadAllBytesAsync(Path.Combine(work.Directory, "out", "payload.bin")));
        Assert.Equal(1UL, (await CountsAsync("SWU-GW")).Installed);
    }

    private async Task<string> CampaignAsync(string model, string deviceId, byte[] swu)
    {
        var metadata = Scenario.Full(model, "R2.0");
        metadata.Filename = "update.swu";
        var package = await Scenario.UploadAsync(Node, metadata, swu);
        await Scenario.StartCampaignAsync(Node, "c-" + model, model, package.PackageId);
        return (await Scenario.RegisterAsync(Node, deviceId))[deviceId];
    }

    private async Task<CampaignCounts> CountsAsync(string model) =>
        (await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "c-" + model }, Node.AdminHeaders)).Counts;

    /// <summary>Waits (for a real process, in real time) until the device's offer reaches the status; fails with the agent's log otherwise.</summary>
    private async Task WaitForAsync(string deviceId, OfferStatus status, SwupdateProcess agent)
    {
        var deadline = DateTime.UtcNow + AgentDeadline;
        while (true)
        {
            Admin.V1.Device? device = null;
            try
            {
                device = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = deviceId }, Node.AdminHeaders);
            }
            catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.NotFound)
            {
                // Not registered yet: a controller polling with a gateway token is registered at its first poll.
            }

            if (device?.CurrentOffer?.Status == status)
            {
                return;
            }

            if (DateTime.UtcNow > deadline || agent.HasExited)
            {
                Assert.Fail($"device {deviceId} is {device?.CurrentOffer?.Status.ToString() ?? "without an offer"}, not {status}; swupdate {(agent.HasExited ? "exited" : "still runs")}:\n{agent.Log}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250));
        }
    }

    /// <summary>A directory with the signing certificate, the .swu and swupdate's own config, working dir and TMPDIR.</summary>
    private sealed class SwupdateWorkspace : IDisposable
    {
        private readonly ITestOutputHelper _output;

        public SwupdateWorkspace(string purpose, ITestOutputHelper output)
        {
            _output = output;
            Directory = TestPaths.NewTempDirectory(purpose);
            System.IO.Directory.CreateDirectory(Path.Combine(Directory, "out"));
            System.IO.Directory.CreateDirectory(Path.Combine(Directory, "tmp"));
        }

        public string Directory { get; }

        /// <summary>A .swu: cpio newc of sw-description, its detached CMS signature (DER), and the image.</summary>
        public async Task<byte[]> BuildSwuAsync(byte[] payload, string declaredSha256)
        {
            var build = Path.Combine(Directory, "build");
            System.IO.Directory.CreateDirectory(build);
            await File.WriteAllBytesAsync(Path.Combine(build, "payload.bin"), payload);
            await File.WriteAllTextAsync(Path.Combine(build, "sw-description"), $$"""
                software =
                {
                    version = "2.0";
                    hardware-compatibility = [ "1.0" ];
                    images: (
                        {
                            filename = "payload.bin";
                            path = "out/payload.bin";
                            type = "rawfile";
                            sha256 = "{{declaredSha256}}";
                        }
                    );
                }
                """);
            await RunAsync("openssl", build, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", Path.Combine(Directory, "cert.pem"),
                "-subj", "/CN=zte-rollout-test", "-days", "2", "-addext", "extendedKeyUsage=emailProtection", "-addext", "keyUsage=digitalSignature");
            await RunAsync("openssl", build, "cms", "-sign", "-in", "sw-description", "-out", "sw-description.sig", "-signer", Path.Combine(Directory, "cert.pem"),
                "-inkey", "key.pem", "-outform", "DER", "-nosmimecap", "-binary");
            await RunAsync("sh", build, "-c", "printf 'sw-description\\nsw-description.sig\\npayload.bin\\n' | cpio --quiet -o -H newc > ../update.swu");
            return await File.ReadAllBytesAsync(Path.Combine(Directory, "update.swu"));
        }

        /// <summary>Starts swupdate in suricatta mode in its own process group (it forks), with this workspace's config only.</summary>
        public SwupdateProcess StartSwupdate(string ddiBase, string deviceId, string model, string token, string currentVersion, int? state = null, bool gatewayToken = false)
        {
            var config = Path.Combine(Directory, $"swupdate-{currentVersion}.cfg");
            File.WriteAllText(config, $$"""
                globals :
                {
                    verbose = true;
                    loglevel = 5;
                };
                identify : (
                    { name = "model"; value = "{{model}}"; },
                    { name = "version"; value = "{{currentVersion}}"; }
                );
                """);
            var suricatta = $"-t default -u {ddiBase} -i {deviceId} {(gatewayToken ? "-g" : "-k")} {token} -p 1 -r 3 -w 1" + (state is { } s ? $" -c {s}" : string.Empty);
            var start = new ProcessStartInfo("setsid")
            {
                WorkingDirectory = Directory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in (string[])["swupdate", "-f", config, "-v", "-k", Path.Combine(Directory, "cert.pem"), "-H", "board:1.0", "-u", suricatta])
            {
                start.ArgumentList.Add(argument);
            }

            start.Environment["TMPDIR"] = Path.Combine(Directory, "tmp");
            _output.WriteLine($"swupdate -u '{suricatta.Replace(token, "<token>", StringComparison.Ordinal)}'");
            return new SwupdateProcess(Process.Start(start)!);
        }

        private async Task RunAsync(string file, string directory, params string[] arguments)
        {
            var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} exited {process.ExitCode}: {await stderr}{await stdout}");
        }

        public void Dispose() => TestPaths.TryDelete(Directory);
    }

    /// <summary>A running swupdate and what it logged; disposing stops its whole process group.</summary>
    private sealed class SwupdateProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _log = new();

        public SwupdateProcess(Process process)
        {
            _process = process;
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.ErrorDataReceived += (_, e) => Append(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public bool HasExited => _process.HasExited;

        public string Log
        {
            get
            {
                lock (_log)
                {
                    return _log.ToString();
                }
            }
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_log)
                {
                    _log.AppendLine(line);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                // setsid made swupdate the leader of its own group: the group id is its pid.
                using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", "--", "-" + _process.Id]) { UseShellExecute = false })!;
                await kill.WaitForExitAsync();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await _process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    using var killHard = Process.Start(new ProcessStartInfo("kill", ["-KILL", "--", "-" + _process.Id]) { UseShellExecute = false })!;
                    await killHard.WaitForExitAsync();
                }
            }

            _process.Dispose();
        }
    }
}
