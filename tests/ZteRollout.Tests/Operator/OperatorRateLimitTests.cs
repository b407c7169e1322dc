using System.Net;

namespace ZteRollout.Tests.Operator;

/// <summary>A rate-limited HTTP/JSON caller is told so as HTTP callers are: 429, the gRPC status as JSON, Retry-After.</summary>
[Collection(ObservabilityNodeCollection.Name)]
public sealed class OperatorRateLimitTests(ObservabilityNodeFixture fixture) : IDisposable
{
    private readonly OperatorClient _client = new(fixture.Node.OperatorAddress ?? throw new InvalidOperationException("the test node serves no operator listener"));

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task AdminKeyOverItsRateLimit_OverJson_Is429_WithTheStatusAndRetryAfter()
    {
        // The viewer's bucket holds AdminKeyTokens calls and refills one an hour: it runs dry within that many calls.
        var answers = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        for (var call = 0; call <= ObservabilityNodeFixture.AdminKeyTokens && refused is null; call++)
        {
            var response = await _client.GetAsync("/api/v1/fleet", ObservabilityNodeFixture.ViewerKey);
            answers.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                response.Dispose();
            }
            else
            {
                refused = response;
            }
        }

        using (refused)
        {
            Assert.NotNull(refused);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.All(answers.SkipLast(1), status => Assert.Equal(HttpStatusCode.OK, status));
            var body = await OperatorClient.JsonAsync(refused);
            Assert.Equal(8, body["code"]!.GetValue<int>());
            Assert.StartsWith("too many calls with this admin key; retry after ", body["message"]!.GetValue<string>());
            Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero, $"Retry-After: {refused.Headers.RetryAfter}");
        }
    }
}
