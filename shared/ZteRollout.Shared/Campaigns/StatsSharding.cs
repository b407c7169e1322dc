using System.Text;

namespace ZteRollout.Shared.Campaigns;

/// <summary>Maps a device to the shard of a campaign's counts that holds it.</summary>
public static class StatsSharding
{
    /// <summary>
    /// Shards per campaign. A shard stores its devices' records as one blob, so each of its writes costs in
    /// proportion to its size: 256 keep a shard near 400 devices at 100,000 and near 4,000 at a million.
    /// Stored counts are keyed by it, so changing it would split a running campaign's counts across two layouts:
    /// a different value needs a per-campaign field first.
    /// </summary>
    public const int ShardCount = 256;

    public static int ShardOf(string deviceId) => (int)(Fnv1a(deviceId) % ShardCount);

    public static string ShardKey(string campaignId, int shard) => $"{campaignId}/{shard}";

    /// <summary>32-bit FNV-1a over UTF-8: stable across processes and runtimes, unlike string.GetHashCode.</summary>
    public static uint Fnv1a(string text)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 16777619u;
        }

        return hash;
    }
}
