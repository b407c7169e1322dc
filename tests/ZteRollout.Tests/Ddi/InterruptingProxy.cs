using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ZteRollout.Tests.Ddi;

/// <summary>
/// A TCP proxy in front of the DDI listener that cuts the first full (unranged) download of a file after a number of
/// response bytes, as a dropped mobile connection would, and records the download requests that ask for a range.
/// Agents see only the proxy: the node builds its links from the Host header, which the proxy passes on unchanged.
/// </summary>
public sealed class InterruptingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _upstreamPort;
    private readonly string _fileName;
    private readonly int _cutAfterBytes;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _cut;

    public InterruptingProxy(int upstreamPort, string fileName, int cutAfterBytes)
    {
        _upstreamPort = upstreamPort;
        _fileName = fileName;
        _cutAfterBytes = cutAfterBytes;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public string Address => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Whether a download was cut.</summary>
    public bool Cut => Volatile.Read(ref _cut) == 1;

    /// <summary>The <c>Range</c> headers of the downloads of the file, in order.</summary>
    public ConcurrentQueue<string> RangeRequests { get; } = new();

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using var downstream = client;
        using var upstream = new TcpClient();
        await upstream.ConnectAsync(IPAddress.Loopback, _upstreamPort);
        var cutThisResponse = new StrongBox<bool>(false);
        using var connection = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var requests = PumpRequestsAsync(client.GetStream(), upstream.GetStream(), cutThisResponse, connection.Token);
        var responses = PumpResponsesAsync(upstream.GetStream(), client.GetStream(), cutThisResponse, connection.Token);
        await Task.WhenAny(requests, responses);
        await connection.CancelAsync();
    }

    private async Task PumpRequestsAsync(NetworkStream from, NetworkStream to, StrongBox<bool> cutThisResponse, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, ct)) > 0)
            {
                var text = Encoding.ASCII.GetString(buffer, 0, read);
                if (text.StartsWith("GET ", StringComparison.Ordinal) && text.Split("\r\n")[0].Contains("/artifacts/" + _fileName + " ", StringComparison.Ordinal))
                {
                    var range = text.Split("\r\n").FirstOrDefault(l => l.StartsWith("Range:", StringComparison.OrdinalIgnoreCase));
                    if (range is not null)
                    {
                        RangeRequests.Enqueue(range["Range:".Length..].Trim());
                    }
                    else if (Interlocked.CompareExchange(ref _cut, 1, 0) == 0)
                    {
                        cutThisResponse.Value = true;
                    }
                }

                await to.WriteAsync(buffer.AsMemory(0, read), ct);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task PumpResponsesAsync(NetworkStream from, NetworkStream to, StrongBox<bool> cutThisResponse, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        var sent = 0L;
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, ct)) > 0)
            {
                if (cutThisResponse.Value)
                {
                    var allowed = (int)Math.Min(read, _cutAfterBytes - sent);
                    await to.WriteAsync(buffer.AsMemory(0, allowed), ct);
                    sent += allowed;
                    if (sent >= _cutAfterBytes)
                    {
                        // The connection drops mid-body: the agent has part of the file and must resume.
                        return;
                    }

                    continue;
                }

                await to.WriteAsync(buffer.AsMemory(0, read), ct);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }

    private sealed class StrongBox<T>(T value)
    {
        public T Value { get; set; } = value;
    }
}
