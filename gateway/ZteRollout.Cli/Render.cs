using System.CommandLine;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Spectre.Console;
using Spectre.Console.Rendering;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using AdminDevice = ZteRollout.Admin.V1.Device;

namespace ZteRollout.Cli;

/// <summary>
/// How results look: Spectre tables on stdout for people, protobuf JSON lines on stdout for scripts, errors and
/// warnings as plain lines on stderr. Server values go into cells as <see cref="Text"/>, never as markup.
/// </summary>
internal static class Render
{
    // snake_case names, so that `jq .plan` of a campaign is a plan file `campaigns create` reads back.
    private static readonly JsonFormatter Formatter =
        new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true).WithPreserveProtoFieldNames(true));

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>Progress for people, on stderr so that stdout stays the result (and pure JSON with --output json).</summary>
    public static IAnsiConsole Stderr { get; } = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    /// <summary>Prints a call's result: the message as one JSON line with --output json, else the given view.</summary>
    public static void Result<T>(ParseResult parse, T message, Action<T> view)
        where T : IMessage
    {
        if (GlobalOptions.WantsJson(parse))
        {
            Json(message);
        }
        else
        {
            view(message);
        }
    }

    public static void Json(IMessage message) => Console.Out.WriteLine(Formatter.Format(message));

    public static void Error(string message) => Console.Error.WriteLine("error: " + message);

    public static void Warning(string message) => Console.Error.WriteLine("warning: " + message);

    /// <summary>The status code and detail, then each field the server rejected (google.rpc.BadRequest).</summary>
    public static void RpcError(RpcException e)
    {
        // A client-side failure (no connection, TLS) says why only in the debug exception.
        var cause = e.Status.DebugException is { } debug ? $" ({debug.InnerException?.Message ?? debug.Message})" : "";
        Error($"{e.StatusCode}: {e.Status.Detail}{cause}");
        var badRequest = e.GetRpcStatus()?.GetDetail<BadRequest>();
        foreach (var violation in badRequest?.FieldViolations ?? [])
        {
            Console.Error.WriteLine($"  - {violation.Field}: {violation.Description}");
        }
    }

    public static void Line(string text) => AnsiConsole.Write(new Text(text + Environment.NewLine));

    public static void Package(Package package)
    {
        var m = package.Metadata ?? new PackageMetadata();
        var grid = Pairs();
        Pair(grid, "package", package.PackageId);
        Pair(grid, "version", m.Version);
        Pair(grid, "kind", Words(m.Kind) + (m.Kind == PackageKind.Delta ? " over " + m.BaseVersion : ""));
        Pair(grid, "models", string.Join(", ", m.TargetModels));
        Pair(grid, "size", Bytes(package.Size));
        Pair(grid, "sha256", package.Sha256);
        Pair(grid, "file name", m.Filename.Length > 0 ? m.Filename : package.PackageId + ".bin");
        Pair(grid, "needs", $"battery ≥ {m.MinBatteryPercent} %, {Bytes(m.RequiredFreeBytes)} free");
        Pair(grid, "security version", m.SecurityVersion.ToString(CultureInfo.InvariantCulture));
        Pair(grid, "rollback from", m.RollbackFrom.Count > 0 ? string.Join(", ", m.RollbackFrom) : "-");
        Pair(grid, "manifest", $"{package.Manifest.Length} B, signature {package.ManifestSignature.Length} B");
        Pair(grid, "signed by", package.KeyId.Length > 0 ? package.KeyId : "-");
        Pair(grid, "expires", package.Expires is null ? "-" : Time(package.Expires));
        Pair(grid, "created", Time(package.CreatedAt));
        Pair(grid, "release notes", m.ReleaseNotes.Length > 0 ? m.ReleaseNotes : "-");
        if (package.DeltaFormat.Length > 0)
        {
            Pair(grid, "format", package.DeltaFormat);
        }

        AnsiConsole.Write(grid);
        foreach (var warning in package.Warnings)
        {
            Warning(warning);
        }

        if (package.Deltas.Count > 0)
        {
            DeltaGenerations(package.Deltas);
        }
    }

    /// <summary>Server-generated deltas: the pair, where each stands, how large and why not.</summary>
    public static void DeltaGenerations(IEnumerable<DeltaGeneration> deltas)
    {
        var table = Table("from", "to", "state", "progress", "delta", "size", "of full", "reason");
        foreach (var d in deltas)
        {
            var progress = d.State == DeltaGenerationState.Building && d.TargetSize > 0
                ? string.Create(Invariant, $"{100.0 * d.BytesDone / d.TargetSize:0} % (attempt {d.Attempt})")
                : "-";
            var share = d.DeltaSize > 0 && d.TargetSize > 0 ? string.Create(Invariant, $"{100.0 * d.DeltaSize / d.TargetSize:0.00} %") : "-";
            Row(table, $"{d.FromVersion} ({d.FromPackageId})", $"{d.ToVersion} ({d.ToPackageId})", Words(d.State), progress,
                Dash(d.DeltaPackageId), d.DeltaSize > 0 ? Bytes(d.DeltaSize) : "-", share, Dash(d.Reason));
        }

        Write(table, "no deltas");
    }

    public static void Packages(IEnumerable<Package> packages)
    {
        var table = Table("package", "version", "kind", "base", "models", "size", "sha256", "created");
        foreach (var p in packages)
        {
            var m = p.Metadata ?? new PackageMetadata();
            Row(table, p.PackageId, m.Version, Words(m.Kind), Dash(m.BaseVersion), string.Join(", ", m.TargetModels),
                Bytes(p.Size), p.Sha256.Length > 12 ? p.Sha256[..12] + "…" : p.Sha256, Time(p.CreatedAt));
        }

        Write(table, "no packages");
    }

    public static void SigningKey(SigningKey key)
    {
        var grid = Pairs();
        Pair(grid, "algorithm", key.Algorithm);
        Pair(grid, "online key", key.Fingerprint.Length > 0 ? key.Fingerprint : "none (uploads need a manifest signed offline)");
        foreach (var release in key.ReleaseKeys)
        {
            Pair(grid, release.RevokedAt is null ? "trusted" : "revoked", $"{release.KeyId}  {release.Source}"
                + (release.RevokedAt is null ? "" : $", revoked {Time(release.RevokedAt)}"));
        }

        AnsiConsole.Write(grid);
        // The PEM as is, so it can be copied into a device image.
        if (key.PublicKeyPem.Length > 0)
        {
            Console.Out.Write(key.PublicKeyPem.EndsWith('\n') ? key.PublicKeyPem : key.PublicKeyPem + "\n");
        }
    }

    /// <summary>
    /// Plain aligned columns rather than a box table: tokens are secrets to copy into device images, and a
    /// table would wrap a long token across lines on a narrow terminal.
    /// </summary>
    public static void Credentials(IReadOnlyList<DeviceCredential> credentials)
    {
        var width = Math.Max("DEVICE".Length, credentials.Count == 0 ? 0 : credentials.Max(c => c.DeviceId.Length));
        var text = new StringBuilder();
        text.Append("DEVICE".PadRight(width)).Append("  TOKEN\n");
        foreach (var c in credentials)
        {
            text.Append(c.DeviceId.PadRight(width)).Append("  ").Append(c.Token).Append('\n');
        }

        Console.Out.Write(text.ToString());
    }

    public static void Device(AdminDevice device)
    {
        var facts = device.Facts ?? new DeviceFacts();
        var grid = Pairs();
        Pair(grid, "device", device.DeviceId);
        Pair(grid, "tags", device.Tags.Count > 0 ? string.Join(", ", device.Tags) : "-");
        Pair(grid, "version", $"{Dash(device.CurrentVersion)} (slot {Words(device.ActiveSlot)})");
        Pair(grid, "last check-in", device.LastCheckIn is null ? "never" : Time(device.LastCheckIn));
        if (device.LastCheckIn is not null)
        {
            Pair(grid, "model", $"{Dash(facts.Model)} rev {Dash(facts.HardwareRevision)}");
            Pair(grid, "region / carrier", $"{Dash(facts.Region)} / {Dash(facts.Carrier)}");
            Pair(grid, "reported", $"version {Dash(facts.CurrentVersion)} (slot {Words(facts.ActiveSlot)}), battery {facts.BatteryPercent} %, "
                + $"{Bytes(facts.FreeStorageBytes)} free, agent {Dash(facts.AgentVersion)}");
        }
        AnsiConsole.Write(grid);

        var offers = Table("offer", "campaign", "package", "target", "status", "downloaded", "error", "offered", "updated", "deadline");
        foreach (var o in device.CurrentOffer is { } current ? device.History.Prepend(current).DistinctBy(o => o.OfferId) : device.History)
        {
            Row(offers, o.OfferId, o.CampaignId, o.PackageId, o.TargetVersion, Words(o.Status), Bytes(o.BytesDownloaded),
                Dash(o.ErrorCode), Time(o.OfferedAt), Time(o.UpdatedAt), Time(o.Deadline));
        }

        Write(offers, "no offers yet", "Offers (current first)");
    }

    public static void Explanation(DeviceExplanation explanation)
    {
        var grid = Pairs();
        Pair(grid, "device", explanation.DeviceId);
        Pair(grid, "now", explanation.Summary);
        Pair(grid, "snapshot", explanation.SnapshotVersion.ToString(CultureInfo.InvariantCulture));
        AnsiConsole.Write(grid);

        var campaigns = Table("campaign", "verdict", "stage", "why");
        foreach (var c in explanation.Campaigns)
        {
            Row(campaigns, c.CampaignId, c.Verdict, c.Stage == 0 ? "-" : c.Stage.ToString(CultureInfo.InvariantCulture), c.Detail);
        }

        Write(campaigns, "no campaign is running", "Campaigns (highest priority first)");
    }

    /// <summary>Prints a dry run; returns whether the plan is valid.</summary>
    public static bool Validation(ValidateCampaignResponse response, CampaignPlan plan)
    {
        if (!response.Valid)
        {
            Problems(response);
            return false;
        }

        AnsiConsole.Write(new Markup($"[green]valid[/]: {response.EligibleDevices} eligible devices today\n"));
        var stages = Table("stage", "percent", "devices exposed");
        for (var i = 0; i < response.DevicesPerStage.Count; i++)
        {
            var percent = i < plan.Stages.Count ? plan.Stages[i].Percent : 100;
            Row(stages, (i + 1).ToString(Invariant), Percent(percent / 100), response.DevicesPerStage[i].ToString(Invariant));
        }

        Write(stages, "no stages");
        return true;
    }

    /// <summary>A plan checked without a server: its problems, or that its syntax and shape are right.</summary>
    public static bool ShapeValidation(ValidateCampaignResponse response)
    {
        if (!response.Valid)
        {
            Problems(response);
            return false;
        }

        AnsiConsole.Write(new Markup("[green]valid[/]: syntax and shape (no server checks)\n"));
        return true;
    }

    private static void Problems(ValidateCampaignResponse response)
    {
        var problems = Table("field", "problem");
        foreach (var p in response.Problems)
        {
            Row(problems, p.Field, p.Description);
        }

        AnsiConsole.Write(new Markup("[red]invalid[/]\n"));
        AnsiConsole.Write(problems);
    }

    public static void CampaignSummary(Campaign c) =>
        Line($"campaign {c.CampaignId} ({c.Plan?.Name}): {Words(c.State)}, stage {StageOf(c)}");

    public static void Campaigns(IEnumerable<Campaign> campaigns)
    {
        var table = Table("campaign", "name", "state", "stage", "offered", "succeeded", "failures", "failure rate", "created");
        foreach (var c in campaigns)
        {
            var counts = c.Counts ?? new CampaignCounts();
            Row(table, c.CampaignId, c.Plan?.Name ?? "", Words(c.State), StageOf(c), counts.Offered.ToString(Invariant),
                counts.Succeeded.ToString(Invariant), Failures(counts).ToString(Invariant), Rate(c.FailureRate), Time(c.CreatedAt));
        }

        Write(table, "no campaigns");
    }

    /// <summary>Everything a release manager or SRE needs to decide: progress, failures, the halt test, the audit trail.</summary>
    public static void Campaign(Campaign c)
    {
        var plan = c.Plan ?? new CampaignPlan();
        var grid = Pairs();
        Pair(grid, "campaign", $"{c.CampaignId} ({plan.Name})");
        Pair(grid, "state", $"{Words(c.State)}, stage {StageOf(c)}");
        Pair(grid, "targets", string.Join(", ", plan.Targets.Select(t => $"{t.Model} → {t.PackageId}")));
        Pair(grid, "created", Time(c.CreatedAt));
        Pair(grid, "failure rate", FailureRate(c));
        Pair(grid, "halt test", HaltTest(c));
        Pair(grid, "gate", Dash(c.GateStatus));
        if (c is { State: CampaignState.Halted, Halt: { } halt })
        {
            Pair(grid, "halted", $"by {halt.By} at {Time(halt.At)}: {halt.Reason}");
            if (halt.Blame is { Dimension.Length: > 0 } blame)
            {
                Pair(grid, "blame", $"{blame.Dimension}={blame.Value}: {blame.FailuresInCohort} of {blame.CompletedInCohort} failed, "
                    + $"mostly {blame.TopErrorCode} ({blame.TopErrorCodeCount})");
            }
        }

        foreach (var cohort in c.HaltedCohorts)
        {
            Pair(grid, "cohort halted", $"{cohort.Dimension}={cohort.Value} by {cohort.By} at {Time(cohort.At)}: {cohort.Reason}; {cohort.Figures}");
        }

        AnsiConsole.Write(grid);

        var stages = Table("stage", "percent", "soak · gate", "started", "offered", "in progress", "installed", "succeeded",
            "failed", "rolled back", "timed out", "deferred", "canceled", "waiting");
        foreach (var s in c.Stages)
        {
            var n = s.Counts ?? new CampaignCounts();
            var p = s.Plan ?? new Stage();
            var marker = s.Index == c.CurrentStage && c.State is CampaignState.Running or CampaignState.Paused or CampaignState.Halted ? "▸ " : "  ";
            Row(stages, marker + (s.Index + 1).ToString(Invariant), Percent(p.Percent / 100),
                $"{Seconds(p.MinSoakSeconds)} · ≥{p.GateMinCompleted} at {Percent(p.GateMinSuccessRate)}", Time(s.StartedAt),
                Count(n.Offered), Count(n.InProgress), Count(n.Installed), Count(n.Succeeded), Count(n.Failed), Count(n.RolledBack),
                Count(n.TimedOut), Count(n.Deferred), Count(n.Canceled), Count(n.Waiting));
        }

        if (c.Counts is { } total)
        {
            Row(stages, "all", "", "", "", Count(total.Offered), Count(total.InProgress), Count(total.Installed), Count(total.Succeeded),
                Count(total.Failed), Count(total.RolledBack), Count(total.TimedOut), Count(total.Deferred), Count(total.Canceled), Count(total.Waiting));
        }

        Write(stages, "no stages", "Stages");
        HealthConfirmations(c);

        var cohorts = Table("cohort", "value", "completed", "failures", "failure rate");
        foreach (var cohort in c.Cohorts.Where(x => x.Failures > 0).OrderByDescending(x => x.Failures).ThenBy(x => x.Dimension, StringComparer.Ordinal))
        {
            Row(cohorts, cohort.Dimension, cohort.Value, Count(cohort.Completed), Count(cohort.Failures),
                Rate(cohort.Completed == 0 ? 0 : (double)cohort.Failures / cohort.Completed));
        }

        Write(cohorts, "no cohort has failures", "Cohorts with failures");

        var codes = Table("error code", "failures");
        foreach (var code in c.ErrorCodes.OrderByDescending(x => x.Count))
        {
            Row(codes, code.ErrorCode, Count(code.Count));
        }

        Write(codes, "no error codes", "Error codes");

        var audit = Table("at", "actor", "action", "reason", "figures");
        foreach (var entry in c.Audit)
        {
            Row(audit, Time(entry.At), entry.Actor, entry.Action, Dash(entry.Reason), Dash(entry.Figures));
        }

        Write(audit, "no audit entries", "Audit log");
    }

    public static void FleetStatus(FleetStatus status)
    {
        var grid = Pairs();
        Pair(grid, "fleet", status.Frozen ? "FROZEN: no campaign makes new offers" : "not frozen");
        if (status.By.Length > 0 || status.At is not null)
        {
            Pair(grid, status.Frozen ? "frozen by" : "last change by", $"{Dash(status.By)} at {Time(status.At)}");
            Pair(grid, "reason", Dash(status.Reason));
        }

        AnsiConsole.Write(grid);
    }

    /// <summary>
    /// A plan with a health window: per stage, the successes still awaiting their confirmation (they count for neither
    /// halts nor gates yet) next to the confirmed ones.
    /// </summary>
    private static void HealthConfirmations(Campaign c)
    {
        if (c.Plan?.Health is not { } health)
        {
            return;
        }

        var table = Table("stage", "pending confirmation", "confirmed succeeded");
        foreach (var s in c.Stages)
        {
            var n = s.Counts ?? new CampaignCounts();
            Row(table, (s.Index + 1).ToString(Invariant), Count(n.PendingConfirmation), Count(n.Succeeded));
        }

        if (c.Counts is { } total)
        {
            Row(table, "all", Count(total.PendingConfirmation), Count(total.Succeeded));
        }

        Write(table, "no stages", $"Health confirmations (window {Seconds(health.WindowSeconds)})");
    }

    /// <summary>Outcomes so far: succeeded plus the failures (FAILED, ROLLED_BACK, TIMED_OUT).</summary>
    public static ulong Completed(CampaignCounts counts) => counts.Succeeded + Failures(counts);

    public static ulong Failures(CampaignCounts counts) => counts.Failed + counts.RolledBack + counts.TimedOut;

    public static string StageOf(Campaign c) =>
        c.Stages.Count == 0 ? "-" : $"{Math.Min(c.CurrentStage + 1, (uint)c.Stages.Count)}/{c.Stages.Count}";

    public static string FailureRate(Campaign c) =>
        $"{Rate(c.FailureRate)} (95 % interval {Rate(c.FailureRateLow)}–{Rate(c.FailureRateHigh)}) "
        + $"over {Completed(c.Counts ?? new CampaignCounts())} completed";

    public static string HaltTest(Campaign c)
    {
        var halt = c.Plan?.Halt;
        var parts = new List<string>();
        if (halt?.Sequential is { } s)
        {
            parts.Add(string.Create(Invariant,
                $"sequential (p0 {Percent(s.P0)}, p1 {Percent(s.P1)}): statistic {c.HaltStatistic:0.00} of boundary {c.HaltBoundary:0.00}"));
        }

        if (halt?.Threshold is { } t)
        {
            parts.Add($"threshold: halts above {Percent(t.MaxFailureRate)} once {t.MinCompleted} completed");
        }

        return parts.Count > 0 ? string.Join("; ", parts) : "none";
    }

    public static string Words(System.Enum value)
    {
        var name = value.ToString();
        var words = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (i > 0 && char.IsUpper(name[i]))
            {
                words.Append('_');
            }

            words.Append(char.ToLowerInvariant(name[i]));
        }

        return words.ToString();
    }

    /// <summary>A share a person wrote, such as a stage's percent or a gate: as precise as written.</summary>
    public static string Percent(double fraction) => (fraction * 100).ToString("0.###", Invariant) + " %";

    /// <summary>A measured rate: two decimals below 10 %, where the halt policies work, one above.</summary>
    public static string Rate(double fraction) =>
        fraction == 0 ? "0 %" : (fraction * 100).ToString(fraction < 0.1 ? "0.00" : "0.0", Invariant) + " %";

    public static string Time(Timestamp? at) =>
        at is null ? "-" : at.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss'Z'", Invariant);

    private static string Seconds(uint seconds) => seconds switch
    {
        0 => "0s",
        _ when seconds % 86_400 == 0 => $"{seconds / 86_400}d",
        _ when seconds % 3_600 == 0 => $"{seconds / 3_600}h",
        _ when seconds % 60 == 0 => $"{seconds / 60}m",
        _ => $"{seconds}s",
    };

    private static string Bytes(ulong bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        var value = (double)bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes} B" : value.ToString("0.0", Invariant) + " " + units[unit];
    }

    private static string Count(ulong n) => n.ToString(Invariant);

    private static string Dash(string value) => value.Length > 0 ? value : "-";

    private static Table Table(params string[] columns)
    {
        var table = new Table().RoundedBorder();
        foreach (var column in columns)
        {
            table.AddColumn(new TableColumn(new Text(column, new Style(decoration: Decoration.Bold))));
        }

        return table;
    }

    private static void Row(Table table, params string[] cells) => table.AddRow(cells.Select(c => (IRenderable)new Text(c)).ToArray());

    private static void Write(Table table, string whenEmpty, string? title = null)
    {
        if (title is not null)
        {
            AnsiConsole.Write(new Text("\n" + title + "\n", new Style(decoration: Decoration.Bold)));
        }

        if (table.Rows.Count == 0)
        {
            Line(whenEmpty);
            return;
        }

        AnsiConsole.Write(table);
    }

    private static Grid Pairs()
    {
        var grid = new Grid();
        grid.AddColumn(new GridColumn().NoWrap().PadRight(2));
        grid.AddColumn();
        return grid;
    }

    private static void Pair(Grid grid, string key, string value) =>
        grid.AddRow(new Text(key, new Style(decoration: Decoration.Bold)), new Text(value));
}
