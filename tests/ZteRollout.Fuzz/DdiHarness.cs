using System.Collections.Immutable;
using System.Text.Json;
using ZteRollout.Gateway.Ddi;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Fuzz;

/// <summary>
/// Bodies a hawkBit agent sends the DDI facade, through the facade's own reading: the body as JSON, then as action
/// feedback (mapped onto an offer's reports and error code) and as configData (device facts). A bad body must end as a
/// <see cref="DdiProblem"/> (an HTTP 4xx naming the problem), never as another exception (a 500).
/// </summary>
public static class DdiHarness
{
    private static readonly DdiOptions Options = new();

    private static readonly OfferRecord Offer = new(
        "off-1", "cmp-1", "pkg-1", "MF18.2.1.B08", [], [], 1024, new string('a', 64), OfferStatus.Downloading, 0, null,
        DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddDays(1), ImmutableArray<string>.Empty, "MF18.2.1.B07")
    {
        SourceSlot = BootSlot.A,
    };

    public static void Run(byte[] input)
    {
        JsonElement body;
        try
        {
            body = DdiService.ParseBody(input);
        }
        catch (DdiProblem problem) when (problem.Status == 400)
        {
            return;
        }

        Feedback(body);
        ConfigData(body);
    }

    private static void Feedback(JsonElement body)
    {
        DdiFeedback feedback;
        try
        {
            feedback = DdiFeedbackMapping.Parse(body);
        }
        catch (DdiProblem problem) when (problem.Status == 400)
        {
            return;
        }

        DdiFeedbackMapping.ToReports(feedback, Offer);
        DdiFeedbackMapping.ErrorCode(feedback);
    }

    private static void ConfigData(JsonElement body)
    {
        try
        {
            DdiAttributes.Parse(body, Options);
        }
        catch (DdiProblem problem) when (problem.Status == 400)
        {
        }
    }
}
