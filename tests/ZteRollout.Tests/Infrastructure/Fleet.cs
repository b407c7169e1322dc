using ZteRollout.Admin.V1;
using ZteRollout.DeviceAgent;
using Agent = ZteRollout.DeviceAgent.DeviceAgent;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>Simulated devices, each with the reference agent, checking in over real gRPC in rounds.</summary>
public sealed class Fleet
{
    private readonly Grpc.Net.Client.GrpcChannel _channel;
    private readonly string _publicKey;
    private readonly Dictionary<string, string> _tokens;
    private readonly Dictionary<string, SimulatedDevice> _devices;
    private readonly Dictionary<string, AgentBehavior> _behaviors;

    private Fleet(Grpc.Net.Client.GrpcChannel channel, string publicKey, Dictionary<string, string> tokens, Dictionary<string, SimulatedDevice> devices, Dictionary<string, AgentBehavior> behaviors)
    {
        _channel = channel;
        _publicKey = publicKey;
        _tokens = tokens;
        _devices = devices;
        _behaviors = behaviors;
    }

    public IReadOnlyList<string> DeviceIds => [.. _devices.Keys];

    public AgentBehavior BehaviorOf(string deviceId) => _behaviors[deviceId];

    /// <summary>Registers <paramref name="count"/> devices "{prefix}-{i}" running <paramref name="version"/>, each behaving as told.</summary>
    public static Task<Fleet> CreateAsync(RolloutCluster system, string prefix, int count, string version, Func<int, AgentBehavior> behavior) =>
        CreateAsync(system, system.Channel, prefix, count, version, behavior);

    /// <summary>As above, on any node (e.g. the embedded one), the agents calling over <paramref name="channel"/>.</summary>
    public static async Task<Fleet> CreateAsync(IRolloutEndpoint system, Grpc.Net.Client.GrpcChannel channel, string prefix, int count, string version, Func<int, AgentBehavior> behavior)
    {
        var ids = Enumerable.Range(0, count).Select(i => $"{prefix}-{i:D4}").ToList();
        var tokens = new Dictionary<string, string>();
        foreach (var batch in ids.Chunk(1000))
        {
            var request = new RegisterDevicesRequest();
            request.Devices.AddRange(batch.Select(id => new DeviceRegistration { DeviceId = id }));
            foreach (var c in (await system.Admin.RegisterDevicesAsync(request, system.AdminHeaders)).Credentials)
            {
                tokens[c.DeviceId] = c.Token;
            }
        }

        var key = (await system.Admin.GetSigningKeyAsync(new GetSigningKeyRequest(), system.AdminHeaders)).PublicKeyPem;
        var root = Path.Combine(system.DataDirectory, "devices", prefix);
        var devices = ids.ToDictionary(id => id, id => SimulatedDevice.Create(Path.Combine(root, id), version));
        var behaviors = ids.Select((id, i) => (id, b: behavior(i))).ToDictionary(x => x.id, x => x.b);
        return new Fleet(channel, key, tokens, devices, behaviors);
    }

    /// <summary>Changes how some devices behave from the next round on (e.g. the fix shipped).</summary>
    public void Behave(Func<string, AgentBehavior, AgentBehavior> change)
    {
        foreach (var id in _behaviors.Keys.ToList())
        {
            _behaviors[id] = change(id, _behaviors[id]);
        }
    }

    /// <summary>Every device checks in once and, when offered, runs the whole update; returns each device's outcome.</summary>
    /// <param name="concurrency">Devices running at once.</param>
    /// <param name="channel">The channel the agents use (default: the first gateway).</param>
    /// <param name="onProgress">Called with the number of devices done so far, after each one (to inject a fault mid-round).</param>
    public async Task<Dictionary<string, AgentRunResult>> RoundAsync(int concurrency = 24, Grpc.Net.Client.GrpcChannel? channel = null, Action<int>? onProgress = null)
    {
        var results = new System.Collections.Concurrent.ConcurrentDictionary<string, AgentRunResult>();
        var done = 0;
        await Parallel.ForEachAsync(_devices, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (d, ct) =>
        {
            var agent = new Agent(channel ?? _channel, d.Key, _tokens[d.Key], _publicKey, d.Value, _behaviors[d.Key]);
            results[d.Key] = await agent.RunOnceAsync(ct);
            onProgress?.Invoke(Interlocked.Increment(ref done));
        });
        return new Dictionary<string, AgentRunResult>(results);
    }
}
