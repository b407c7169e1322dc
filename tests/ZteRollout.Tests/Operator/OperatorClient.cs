using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ZteRollout.Tests.Operator;

/// <summary>A plain HTTP/1.1 client of the operator listener, as curl or a browser would talk to it.</summary>
public sealed class OperatorClient(string baseAddress) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = new Uri(baseAddress) };

    public Task<HttpResponseMessage> GetAsync(string path, string? key) => SendAsync(HttpMethod.Get, path, key, null);

    public Task<HttpResponseMessage> PostAsync(string path, string? key, string json) => SendAsync(HttpMethod.Post, path, key, json);

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? key, string? json)
    {
        using var request = new HttpRequestMessage(method, path);
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        return await _http.SendAsync(request);
    }

    /// <summary>Sends a request built by the caller (e.g. with a cookie), as a browser would.</summary>
    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request) => _http.SendAsync(request);

    /// <summary>The response body as JSON, with the status and body in the message when it is not JSON.</summary>
    public static async Task<JsonNode> JsonAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        return JsonNode.Parse(body) ?? throw new InvalidOperationException($"{(int)response.StatusCode}: empty body");
    }

    public void Dispose() => _http.Dispose();
}
