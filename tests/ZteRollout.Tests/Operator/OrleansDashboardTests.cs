using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ZteRollout.Gateway.Operator;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Operator;

/// <summary>The Orleans Dashboard on the operator listener: behind Rollout:Operator:OrleansDashboard, admin role only.</summary>
[Collection(ObservabilityNodeCollection.Name)]
public sealed class OrleansDashboardTests(ObservabilityNodeFixture fixture) : IDisposable
{
    private readonly OperatorClient _client = new(fixture.Node.OperatorAddress ?? throw new InvalidOperationException("the test node serves no operator listener"));

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task Dashboard_WhenEnabled_ServesAdmins_RefusesViewers403_AndCallersWithoutKey401()
    {
        using var admin = await _client.GetAsync("/orleans-dashboard/", fixture.Node.AdminKey);
        var hosts = await ActiveHostsAsync();
        using var viewer = await _client.GetAsync("/orleans-dashboard/", ObservabilityNodeFixture.ViewerKey);
        using var viewerCounters = await _client.GetAsync("/orleans-dashboard/DashboardCounters", ObservabilityNodeFixture.ViewerKey);
        using var noKey = await _client.GetAsync("/orleans-dashboard/", key: null);

        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        Assert.Equal("text/html", admin.Content.Headers.ContentType?.MediaType);
        // The counters name this node's one silo (once the dashboard's collector has sampled the cluster).
        Assert.Equal(1, hosts);
        Assert.Equal(HttpStatusCode.Forbidden, viewer.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, viewerCounters.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
    }

    /// <summary>
    /// The dashboard's count of active silos, asked as admin until its collector has sampled the cluster once (it
    /// answers 0 before its first sample); the last answer after 30 s of asking otherwise.
    /// </summary>
    private async Task<int> ActiveHostsAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            using var counters = await _client.GetAsync("/orleans-dashboard/DashboardCounters", fixture.Node.AdminKey);
            Assert.Equal(HttpStatusCode.OK, counters.StatusCode);
            var hosts = (await OperatorClient.JsonAsync(counters))["totalActiveHostCount"]!.GetValue<int>();
            if (hosts > 0 || DateTime.UtcNow > deadline)
            {
                return hosts;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250));
        }
    }

    /// <summary>The console's sign-in cookie for <paramref name="apiKey"/>, as the console sets it.</summary>
    private string ConsoleCookie(string apiKey)
    {
        var context = new DefaultHttpContext();
        Assert.NotNull(fixture.Node.Services.GetRequiredService<ConsoleSession>().SignIn(context, apiKey));
        var setCookie = context.Response.Headers.SetCookie.ToString();
        return setCookie[..setCookie.IndexOf(';', StringComparison.Ordinal)];
    }

    [Fact]
    public async Task Dashboard_InABrowserSignedInToTheConsole_ServesAnAdmin_RefusesAViewer403()
    {
        // The dashboard's page fetches its figures with the browser's cookies and no authorization header.
        using var admin = new HttpRequestMessage(HttpMethod.Get, "/orleans-dashboard/ClusterStats") { Headers = { { "Cookie", ConsoleCookie(fixture.Node.AdminKey) } } };
        using var viewer = new HttpRequestMessage(HttpMethod.Get, "/orleans-dashboard/ClusterStats") { Headers = { { "Cookie", ConsoleCookie(ObservabilityNodeFixture.ViewerKey) } } };
        using var forged = new HttpRequestMessage(HttpMethod.Get, "/orleans-dashboard/ClusterStats") { Headers = { { "Cookie", ConsoleSession.CookieName + "=not-a-protected-key" } } };

        using var adminAnswer = await _client.SendAsync(admin);
        using var viewerAnswer = await _client.SendAsync(viewer);
        using var forgedAnswer = await _client.SendAsync(forged);

        Assert.Equal(HttpStatusCode.OK, adminAnswer.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, viewerAnswer.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, forgedAnswer.StatusCode);
    }

    [Fact]
    public async Task Dashboard_IsNotServed_OnTheDeviceListeners()
    {
        using var ddi = new OperatorClient(fixture.Node.DdiAddress!);
        using var onDdi = await ddi.GetAsync("/orleans-dashboard/", fixture.Node.AdminKey);

        Assert.Equal(HttpStatusCode.NotFound, onDdi.StatusCode);
    }
}

/// <summary>The default: no dashboard, its path is not found even for an admin.</summary>
[Collection(NodeCollection.Name)]
public sealed class OrleansDashboardDisabledTests(NodeFixture fixture) : IDisposable
{
    private readonly OperatorClient _client = new(fixture.Node.OperatorAddress ?? throw new InvalidOperationException("the test node serves no operator listener"));

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task Dashboard_WhenDisabled_Is404_EvenForAnAdmin()
    {
        using var admin = await _client.GetAsync("/orleans-dashboard/", fixture.Node.AdminKey);
        using var counters = await _client.GetAsync("/orleans-dashboard/DashboardCounters", fixture.Node.AdminKey);

        Assert.Equal(HttpStatusCode.NotFound, admin.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, counters.StatusCode);
    }
}
