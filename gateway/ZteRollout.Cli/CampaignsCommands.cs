using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using Spectre.Console;
using Spectre.Console.Rendering;
using ZteRollout.Admin.V1;
using ZteRollout.Protos.Mapping;
using CampaignPlanValidator = ZteRollout.Shared.Campaigns.CampaignPlanValidator;

namespace ZteRollout.Cli;

/// <summary><c>campaigns ...</c>: plans in, lifecycle transitions, status, and a live watch.</summary>
internal static class CampaignsCommands
{
    private static readonly string[] States = ["draft", "running", "paused", "halted", "completed", "canceled"];

    public static Command Create() => new("campaigns", "Validate, create, drive and watch rollout campaigns.")
    {
        Validate(),
        CreateFromPlan(),
        Transition("start", "Start a draft campaign: matching devices begin to get offers.", (c, r, ct) => c.StartCampaignAsync(r, cancellationToken: ct).ResponseAsync),
        Transition("pause", "Pause a running campaign: no new offers until resumed.", (c, r, ct) => c.PauseCampaignAsync(r, cancellationToken: ct).ResponseAsync),
        Transition("resume", "Resume a paused or halted campaign at its current stage.", (c, r, ct) => c.ResumeCampaignAsync(r, cancellationToken: ct).ResponseAsync),
        Advance(),
        Transition("cancel", "Cancel a campaign for good: no new offers; offers not yet downloading are cancelled.", (c, r, ct) => c.CancelCampaignAsync(r, cancellationToken: ct).ResponseAsync),
        Transition("halt", "Halt a campaign everywhere at once; in-flight installs finish and still count.", (c, r, ct) => c.HaltCampaignAsync(r, cancellationToken: ct).ResponseAsync, reasonRequired: true),
        LiftCohortHalt(),
        Show(),
        List(),
        Watch(),
    };

    private static Command Validate()
    {
        var (plan, id) = PlanArguments();
        var command = new Command("validate",
            "Check a plan without creating it (exit 1 when invalid): its syntax and shape here, then, when a server answers, "
            + "its packages and its reach over the registered fleet.") { plan, id };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(ct, async () =>
        {
            // The file and the plan's shape first: they need no server, and a plan is often written before one runs.
            var request = ReadPlan(parse, plan, id);
            var local = new ValidateCampaignResponse();
            local.Problems.AddRange(CampaignPlanValidator.ValidateShape(CampaignPlanMapping.ToDomain(request.Plan))
                .Select(p => new FieldProblem { Field = p.Field, Description = p.Description }));
            local.Valid = local.Problems.Count == 0;

            string skipped;
            using (var admin = AdminConnection.TryOpen(parse, out var noKey))
            {
                if (admin is null)
                {
                    skipped = noKey!;
                }
                else
                {
                    try
                    {
                        // The server runs the same checks and those that need its catalogue and fleet: its answer is the whole answer.
                        var response = await admin.Client.ValidateCampaignAsync(request, cancellationToken: ct);
                        return ShowValidation(parse, response, request.Plan, serverChecked: true);
                    }
                    catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && !ct.IsCancellationRequested)
                    {
                        skipped = $"no server answered at {parse.GetRequiredValue(GlobalOptions.Gateway)} ({e.Status.Detail})";
                    }
                }
            }

            Render.Warning($"server checks skipped (packages exist and fit, no downgrade, devices per stage): {skipped}");
            return ShowValidation(parse, local, request.Plan, serverChecked: false);
        }));
        return command;
    }

    private static int ShowValidation(ParseResult parse, ValidateCampaignResponse response, CampaignPlan plan, bool serverChecked)
    {
        if (GlobalOptions.WantsJson(parse))
        {
            Render.Json(response);
            return response.Valid ? 0 : AdminConnection.InputError;
        }

        var valid = serverChecked ? Render.Validation(response, plan) : Render.ShapeValidation(response);
        return valid ? 0 : AdminConnection.InputError;
    }

    private static Command CreateFromPlan()
    {
        var (plan, id) = PlanArguments();
        var command = new Command("create", "Create a campaign in DRAFT from a plan file.") { plan, id };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var campaign = await admin.Client.CreateCampaignAsync(ReadPlan(parse, plan, id), cancellationToken: ct);
            Render.Result(parse, campaign, Render.CampaignSummary);
            return 0;
        }));
        return command;
    }

    private static Command Transition(
        string name, string description, Func<RolloutAdmin.RolloutAdminClient, CampaignRequest, CancellationToken, Task<Campaign>> call, bool reasonRequired = false)
    {
        var id = new Argument<string>("ID") { Description = "The campaign id." };
        var reason = new Option<string?>("--reason") { Description = "Why, kept in the audit log.", HelpName = "TEXT", Required = reasonRequired };
        var command = new Command(name, description) { id, reason };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var request = new CampaignRequest { CampaignId = parse.GetRequiredValue(id), Reason = parse.GetValue(reason) ?? "", RequestId = NewRequestId() };
            ShowTransition(parse, await CallWithRetriesAsync(() => call(admin.Client, request, ct), ct));
            return 0;
        }));
        return command;
    }

    /// <summary><c>campaigns lift-cohort-halt ID --cohort hardware_revision=R3 --reason TEXT</c>: an SRE lets a halted cohort get offers again.</summary>
    private static Command LiftCohortHalt()
    {
        var id = new Argument<string>("ID") { Description = "The campaign id." };
        var cohort = new Option<string>("--cohort")
        {
            Description = "The halted cohort as DIMENSION=VALUE, as `show` prints it (e.g. hardware_revision=R3).",
            HelpName = "DIMENSION=VALUE",
            Required = true,
        };
        var reason = new Option<string?>("--reason") { Description = "Why, kept in the audit log.", HelpName = "TEXT", Required = true };
        var command = new Command("lift-cohort-halt",
            "Lift a cohort-scoped halt: the cohort's devices get offers again; the halt policy opens a new window (another alpha).") { id, cohort, reason };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var text = parse.GetRequiredValue(cohort);
            var separator = text.IndexOf('=', StringComparison.Ordinal);
            if (separator <= 0)
            {
                throw new InputException($"--cohort: expected DIMENSION=VALUE (e.g. hardware_revision=R3), got '{text}'.");
            }

            var request = new LiftCohortHaltRequest
            {
                CampaignId = parse.GetRequiredValue(id),
                Dimension = text[..separator],
                Value = text[(separator + 1)..],
                Reason = parse.GetValue(reason) ?? "",
                RequestId = NewRequestId(),
            };
            ShowTransition(parse, await CallWithRetriesAsync(() => admin.Client.LiftCohortHaltAsync(request, cancellationToken: ct).ResponseAsync, ct));
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// <c>campaigns advance</c>: names the stage it leaves (compare-and-set), so neither a retry nor a second operator
    /// can skip a stage. Without --from-stage, the stage the campaign is at when the command starts.
    /// </summary>
    private static Command Advance()
    {
        var id = new Argument<string>("ID") { Description = "The campaign id." };
        var reason = new Option<string?>("--reason") { Description = "Why, kept in the audit log.", HelpName = "TEXT" };
        var fromStage = new Option<uint?>("--from-stage")
        {
            Description = "The stage (1-based, as `show` prints it) to advance from; the server refuses when the campaign is at another.",
            HelpName = "N",
        };
        var command = new Command("advance", "Start the next stage now, without waiting for soak and gate.") { id, reason, fromStage };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var campaignId = parse.GetRequiredValue(id);
            var from = parse.GetValue(fromStage) switch
            {
                0 => throw new InputException("--from-stage counts from 1."),
                { } stage => stage - 1,
                null => (await admin.Client.GetCampaignAsync(new CampaignRequest { CampaignId = campaignId }, cancellationToken: ct)).CurrentStage,
            };
            var request = new CampaignRequest { CampaignId = campaignId, Reason = parse.GetValue(reason) ?? "", RequestId = NewRequestId(), FromStage = from };
            ShowTransition(parse, await CallWithRetriesAsync(() => admin.Client.AdvanceCampaignAsync(request, cancellationToken: ct).ResponseAsync, ct));
            return 0;
        }));
        return command;
    }

    /// <summary>A fresh request id per command invocation; its retries reuse it, so the server applies the command once.</summary>
    private static string NewRequestId() => "cli-" + Guid.NewGuid().ToString("N");

    /// <summary>
    /// Retries a call whose outcome is unknown (no server answered, or it answered Unavailable) a few times. The request
    /// carries the same request id each time, so a retry of a call that did land is a no-op on the server.
    /// </summary>
    private static async Task<Campaign> CallWithRetriesAsync(Func<Task<Campaign>> call, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (RpcException e) when (attempt < TransitionAttempts && e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded && !ct.IsCancellationRequested)
            {
                Render.Warning($"{e.StatusCode}: {e.Status.Detail}; retrying ({attempt}/{TransitionAttempts - 1})");
                await Task.Delay(TimeSpan.FromSeconds(attempt), ct);
            }
        }
    }

    private const int TransitionAttempts = 3;

    private static void ShowTransition(ParseResult parse, Campaign campaign) =>
        Render.Result(parse, campaign, c =>
        {
            if (c.Unchanged)
            {
                // A repeated halt (pause, cancel...) succeeds; say that it found the campaign as asked.
                Render.Line($"campaign {c.CampaignId} was already {Render.Words(c.State)}; nothing changed");
            }

            Render.CampaignSummary(c);
        });

    private static Command Show()
    {
        var id = new Argument<string>("ID") { Description = "The campaign id." };
        var command = new Command("show", "Show a campaign: state, per-stage counts, failures by cohort and code, the halt test, the audit log.") { id };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var campaign = await admin.Client.GetCampaignAsync(new CampaignRequest { CampaignId = parse.GetRequiredValue(id) }, cancellationToken: ct);
            Render.Result(parse, campaign, Render.Campaign);
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var state = new Option<string?>("--state") { Description = "Only campaigns in this state." }.AcceptOnlyFromAmong(States);
        var command = new Command("list", "List campaigns, newest first.") { state };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var request = new ListCampaignsRequest();
            if (parse.GetValue(state) is { } wanted)
            {
                request.State = Enum.Parse<CampaignState>(wanted, ignoreCase: true);
            }

            var response = await admin.Client.ListCampaignsAsync(request, cancellationToken: ct);
            Render.Result(parse, response, r => Render.Campaigns(r.Campaigns));
            return 0;
        }));
        return command;
    }

    private static Command Watch()
    {
        var id = new Argument<string>("ID") { Description = "The campaign id." };
        var command = new Command("watch", "Follow a campaign live until it completes or is canceled (Ctrl-C to stop watching).") { id };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            using var call = admin.Client.WatchCampaign(new CampaignRequest { CampaignId = parse.GetRequiredValue(id) }, cancellationToken: ct);
            var updates = call.ResponseStream.ReadAllAsync(ct);
            var last = GlobalOptions.WantsJson(parse) || !AnsiConsole.Profile.Capabilities.Interactive
                ? await PrintEachAsync(parse, updates)
                : await ShowLiveAsync(updates);
            if (last is null || !IsFinished(last))
            {
                Render.Error("the server ended the watch before the campaign finished.");
                return AdminConnection.ServerError;
            }

            return 0;
        }));
        return command;
    }

    /// <summary>For scripts and logs: one JSON object, or one summary line, per status change.</summary>
    private static async Task<Campaign?> PrintEachAsync(ParseResult parse, IAsyncEnumerable<Campaign> updates)
    {
        Campaign? last = null;
        await foreach (var campaign in updates)
        {
            last = campaign;
            Render.Result(parse, campaign, c => Render.Line($"{DateTimeOffset.UtcNow:HH:mm:ss} {StatusLine(c)}"));
            if (IsFinished(campaign))
            {
                break;
            }
        }

        return last;
    }

    /// <summary>
    /// A live view: a status header, then one bar per stage filling with outcomes (succeeded + failures) over the
    /// devices offered in that stage.
    /// </summary>
    private static async Task<Campaign?> ShowLiveAsync(IAsyncEnumerable<Campaign> updates)
    {
        Campaign? latest = null;
        return await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn())
            // Refreshes run on Spectre's thread; they read the latest message, which the loop replaces whole.
            .UseRenderHook((bars, _) => new Rows(Header(latest), bars))
            .StartAsync(async progress =>
            {
                var stages = new List<ProgressTask>();
                await foreach (var campaign in updates)
                {
                    latest = campaign;
                    foreach (var stage in campaign.Stages)
                    {
                        while (stages.Count <= stage.Index)
                        {
                            stages.Add(progress.AddTask($"stage {stages.Count + 1}"));
                        }

                        var counts = stage.Counts ?? new CampaignCounts();
                        var bar = stages[(int)stage.Index];
                        bar.MaxValue = Math.Max(1, counts.Offered);
                        bar.Value = Render.Completed(counts);
                        bar.Description = StageLine(stage, campaign);
                    }

                    progress.Refresh();
                    if (IsFinished(campaign))
                    {
                        return campaign;
                    }
                }

                return latest;
            });
    }

    private static IRenderable Header(Campaign? c)
    {
        if (c is null)
        {
            return new Text("waiting for the first status…\n");
        }

        var lines = new List<IRenderable>
        {
            new Text(StatusLine(c), new Style(decoration: Decoration.Bold)),
            new Text($"failure rate {Render.FailureRate(c)}"),
            new Text($"halt test {Render.HaltTest(c)}"),
        };
        if (c.GateStatus.Length > 0)
        {
            lines.Add(new Text("gate " + c.GateStatus));
        }

        if (c is { State: CampaignState.Halted, Halt: { } halt })
        {
            lines.Add(new Text($"HALTED by {halt.By}: {halt.Reason}", new Style(Color.Red)));
        }

        foreach (var cohort in c.HaltedCohorts)
        {
            lines.Add(new Text($"COHORT HALTED {cohort.Dimension}={cohort.Value} by {cohort.By}: {cohort.Reason}", new Style(Color.Red)));
        }

        lines.Add(Text.Empty);
        return new Rows(lines);
    }

    private static string StatusLine(Campaign c)
    {
        var counts = c.Counts ?? new CampaignCounts();
        return string.Create(CultureInfo.InvariantCulture,
            $"{c.CampaignId} {Render.Words(c.State)} stage {Render.StageOf(c)}: offered {counts.Offered}, succeeded {counts.Succeeded}, "
            + $"failures {Render.Failures(counts)}, failure rate {Render.Rate(c.FailureRate)}");
    }

    private static string StageLine(StageStatus stage, Campaign campaign)
    {
        var counts = stage.Counts ?? new CampaignCounts();
        // A task description is markup: the current stage is bold.
        var name = stage.Index == campaign.CurrentStage ? $"[bold]stage {stage.Index + 1}[/]" : $"stage {stage.Index + 1}";
        return string.Create(CultureInfo.InvariantCulture,
            $"{name} ({Render.Percent((stage.Plan?.Percent ?? 0) / 100)}): "
            + $"{Render.Completed(counts)}/{counts.Offered} done, {Render.Failures(counts)} failed, {counts.InProgress + counts.Installed} in flight");
    }

    private static bool IsFinished(Campaign c) => c.State is CampaignState.Completed or CampaignState.Canceled;

    private static (Argument<string> Plan, Option<string?> Id) PlanArguments() =>
        (new Argument<string>("PLAN") { Description = "Plan file, YAML (.yaml, .yml) or JSON (.json); see docs/cli.md." },
         new Option<string?>("--id") { Description = "Campaign id (1-64 of A-Z a-z 0-9 . _ -); generated when omitted.", HelpName = "ID" });

    private static CreateCampaignRequest ReadPlan(ParseResult parse, Argument<string> plan, Option<string?> id) => new()
    {
        CampaignId = parse.GetValue(id) ?? "",
        Plan = PlanFile.Read(parse.GetRequiredValue(plan)),
    };
}
