namespace ZteRollout.Shared.Errors;

/// <summary>The class of a caller-visible error; the gateway maps each to one gRPC status code.</summary>
[GenerateSerializer]
public enum RolloutErrorKind
{
    InvalidArgument = 1,
    NotFound = 2,
    AlreadyExists = 3,
    PermissionDenied = 4,
    FailedPrecondition = 5,
    OutOfRange = 6,
    ResourceExhausted = 7,
    Unavailable = 8,
}

/// <summary>One problem with one field of a request.</summary>
[GenerateSerializer, Immutable, Alias("zte.FieldViolation")]
public sealed record FieldViolation([property: Id(0)] string Field, [property: Id(1)] string Description);

/// <summary>
/// A domain error a caller caused or can act on. Grains throw it; it crosses Orleans intact and the
/// gateway turns it into a gRPC status (with BadRequest field violations for InvalidArgument).
/// </summary>
[GenerateSerializer, Alias("zte.RolloutException")]
public sealed class RolloutException : Exception
{
    public RolloutException(RolloutErrorKind kind, string message, IReadOnlyList<FieldViolation>? violations = null)
        : base(message)
    {
        Kind = kind;
        Violations = violations ?? [];
    }

    [Id(0)]
    public RolloutErrorKind Kind { get; }

    [Id(1)]
    public IReadOnlyList<FieldViolation> Violations { get; }

    public static RolloutException InvalidField(string field, string description) =>
        new(RolloutErrorKind.InvalidArgument, $"{field}: {description}", [new FieldViolation(field, description)]);

    public static RolloutException Invalid(IReadOnlyList<FieldViolation> violations) =>
        new(RolloutErrorKind.InvalidArgument,
            violations.Count == 1
                ? $"{violations[0].Field}: {violations[0].Description}"
                : $"{violations.Count} problems: " + string.Join("; ", violations.Select(v => $"{v.Field}: {v.Description}")),
            violations);

    public static RolloutException NotFound(string message) => new(RolloutErrorKind.NotFound, message);

    public static RolloutException AlreadyExists(string message) => new(RolloutErrorKind.AlreadyExists, message);

    public static RolloutException PermissionDenied(string message) => new(RolloutErrorKind.PermissionDenied, message);

    public static RolloutException FailedPrecondition(string message) => new(RolloutErrorKind.FailedPrecondition, message);

    public static RolloutException OutOfRange(string message) => new(RolloutErrorKind.OutOfRange, message);

    public static RolloutException ResourceExhausted(string message) => new(RolloutErrorKind.ResourceExhausted, message);
}

/// <summary>Collects every problem of a request before failing, so callers fix them all at once.</summary>
public sealed class ViolationList
{
    private readonly List<FieldViolation> _items = [];

    public int Count => _items.Count;

    public void Add(string field, string description) => _items.Add(new FieldViolation(field, description));

    public IReadOnlyList<FieldViolation> Items => _items;

    public void ThrowIfAny()
    {
        if (_items.Count > 0)
        {
            throw RolloutException.Invalid(_items);
        }
    }
}
