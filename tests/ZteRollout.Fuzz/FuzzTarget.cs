namespace ZteRollout.Fuzz;

/// <summary>
/// One parser under fuzzing. <see cref="Run"/> feeds it one input: it must return (the input was accepted, or rejected
/// the way the product rejects bad input); any exception that escapes is a finding.
/// </summary>
public sealed record FuzzTarget(string Name, string Description, Action<byte[]> Run)
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("plan", "campaign plan file (YAML and JSON) read, mapped and validated", PlanHarness.Run),
        new("version", "firmware version parse and ordering", VersionHarness.Run),
        new("manifest", "package manifest signature check and decode", ManifestHarness.Run),
        new("device", "device CheckIn/Report messages mapped to domain facts and reports", DeviceRequestHarness.Run),
        new("ddi", "hawkBit DDI bodies: feedback and configData", DdiHarness.Run),
        new("signed", "signed files (manifest upload, key rotation statement) read and judged", SignedFileHarness.Run),
    ];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}

/// <summary>A property the code under test must keep for every input did not hold: a finding, like a crash.</summary>
public sealed class BrokenInvariantException(string message) : Exception(message);
