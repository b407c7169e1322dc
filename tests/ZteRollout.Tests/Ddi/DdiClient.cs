using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ZteRollout.Tests.Ddi;

/// <summary>A hawkBit DDI controller over plain HTTP/1.1, as an agent talks to the DDI listener (our own HttpClient).</summary>
public sealed class DdiClient(string ddiAddress, string controllerId, string? token, string tenant = "DEFAULT") : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(ddiAddress) };

    public string Root => $"/{tenant}/controller/v1/{controllerId}";

    public string? Authorization { get; set; } = token is null ? null : "TargetToken " + token;

    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string pathOrUrl, string? json = null, Action<HttpRequestMessage>? configure = null)
    {
        var request = new HttpRequestMessage(method, pathOrUrl) { Version = new Version(1, 1) };
        if (Authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", Authorization);
        }

        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        configure?.Invoke(request);
        return _http.SendAsync(request);
    }

    public async Task<JsonObject> PollAsync()
    {
        using var response = await SendAsync(HttpMethod.Get, Root);
        return await JsonAsync(response);
    }

    public Task<HttpResponseMessage> PutConfigDataAsync(string dataJson) =>
        SendAsync(HttpMethod.Put, Root + "/configData",
            $$"""{"id":"","time":"20261101T080000","status":{"result":{"finished":"success"},"execution":"closed","details":[""]},"data":{{dataJson}}}""");

    /// <summary>Feedback as SWUpdate 2022.12 sends it: numeric id, local time string, progress, details.</summary>
    public Task<HttpResponseMessage> FeedbackAsync(int actionId, string execution, string finished, params string[] details) =>
        SendAsync(HttpMethod.Post, $"{Root}/deploymentBase/{actionId}/feedback", FeedbackBody(actionId, execution, finished, details));

    public static string FeedbackBody(int actionId, string execution, string finished, params string[] details) =>
        new JsonObject
        {
            ["id"] = actionId,
            ["time"] = "20261101T080000",
            ["status"] = new JsonObject
            {
                ["result"] = new JsonObject { ["progress"] = new JsonObject { ["cnt"] = 2, ["of"] = 1 }, ["finished"] = finished },
                ["execution"] = execution,
                ["details"] = new JsonArray(details.Select(d => (JsonNode?)JsonValue.Create(d)).ToArray()),
            },
        }.ToJsonString();

    public static async Task<JsonObject> JsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    public static string? Link(JsonObject body, string rel) => body["_links"]?[rel]?["href"]?.GetValue<string>();

    public void Dispose() => _http.Dispose();
}
