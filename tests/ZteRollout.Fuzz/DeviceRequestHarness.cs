using Google.Protobuf;
using ZteRollout.Gateway.Services;
using ZteRollout.Shared.Errors;
using V1 = ZteRollout.Device.V1;

namespace ZteRollout.Fuzz;

/// <summary>
/// Device request messages as the gateway receives them (protobuf bytes, read as CheckIn and as Report) through the
/// gateway's request → domain mapping. Bad bytes end as gRPC's parse failure; bad fields as InvalidArgument naming
/// each field; nothing else.
/// </summary>
public static class DeviceRequestHarness
{
    public static void Run(byte[] input)
    {
        CheckIn(input);
        Report(input);
    }

    private static void CheckIn(byte[] input)
    {
        V1.CheckInRequest request;
        try
        {
            request = V1.CheckInRequest.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException)
        {
            return;
        }

        var problems = new ViolationList();
        var facts = DeviceRequests.ToFacts(request.Facts, problems);
        if (Refused(problems))
        {
            return;
        }

        // What the gateway answers with: facts as the proto carries them again.
        DeviceRequests.ToProto(facts);
    }

    private static void Report(byte[] input)
    {
        V1.ReportRequest request;
        try
        {
            request = V1.ReportRequest.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException)
        {
            return;
        }

        var problems = new ViolationList();
        DeviceRequests.ToReport(request, problems);
        Refused(problems);
    }

    private static bool Refused(ViolationList problems)
    {
        try
        {
            problems.ThrowIfAny();
            return false;
        }
        catch (RolloutException e) when (e.Kind == RolloutErrorKind.InvalidArgument && e.Violations.Count > 0)
        {
            return true;
        }
    }
}
