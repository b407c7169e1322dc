using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ZteRollout.Gateway.Ddi;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Tests.Ddi;

/// <summary>The DDI facade's pure parts: sleep format, feedback mapping, attributes, ranges.</summary>
public sealed class DdiMappingTests
{
    private static readonly OfferRecord Offer = new("of-7-a1b2c3d4e5f6", "c-1", "pkg-1", "R2.0", [1], [2], 1000, "ab", OfferStatus.Offered, 0, null,
        DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddHours(1), [], "R1.0") { SourceSlot = BootSlot.A };

    [Theory]
    [InlineData(300, "00:05:00")]
    [InlineData(1, "00:00:01")]
    [InlineData(0, "00:00:01")]
    [InlineData(86_400, "23:59:59")]
    [InlineData(3 * 86_400, "23:59:59")]
    [InlineData(3_725, "01:02:05")]
    public void Sleep_IsHhMmSs_HoursBelow24_NeverZero(int seconds, string expected) =>
        Assert.Equal(expected, DdiResponses.Sleep(TimeSpan.FromSeconds(seconds)));

    [Theory]
    [InlineData("Installing Update Chunk Artifacts.", OfferStatus.Installing)]
    [InlineData("All Chunks Installed.", OfferStatus.Installed)]
    [InlineData("Update Installed, Testing Pending.", OfferStatus.Installed)]
    [InlineData("Download complete. 3.20 MB/s", OfferStatus.Downloaded)]
    [InlineData("File checksum OK.", OfferStatus.Verified)]
    [InlineData("Software bundle installed successfully.", OfferStatus.Installed)]
    [InlineData("Downloading image", OfferStatus.Downloading)]
    [InlineData(" 40% Copying image to rootfs.1", null)]
    public void StepNamedBy_TheAgentsMessages(string detail, OfferStatus? expected) =>
        Assert.Equal(expected, DdiFeedbackMapping.StepNamedBy([detail]));

    [Fact]
    public void Feedback_SwupdateTemplate_NumericIdTimeAndProgressPastItsTotal_Parses()
    {
        var feedback = Parse("""{"id": 7, "time": "20261101T080000", "status": {"result": {"progress": {"cnt": 3, "of": 2}, "finished": "none"}, "execution": "proceeding", "details": [ ]}}""");

        Assert.Equal(("proceeding", "none", 0), (feedback.Execution, feedback.Finished, feedback.Details.Count));
        Assert.Empty(DdiFeedbackMapping.ToReports(feedback, Offer));
    }

    [Fact]
    public void Feedback_ClosedSuccess_IsInstalledThenSucceeded_FromTheOtherSlot_WithTheTarget()
    {
        var reports = DdiFeedbackMapping.ToReports(Parse("""{"id":"7","status":{"execution":"closed","result":{"finished":"success"},"details":["Update Installed."]}}"""), Offer);

        Assert.Equal(new[] { OfferStatus.Installed, OfferStatus.Succeeded }, reports.Select(r => r.Step).ToArray());
        Assert.True(reports[0].ProgressNote);
        Assert.Equal(("R2.0", BootSlot.B, false), (reports[1].RunningVersion, reports[1].ActiveSlot, reports[1].ProgressNote));
        Assert.Null(SuccessProof.Problem(Offer, reports[1]));
    }

    [Fact]
    public void Feedback_SameContentTwice_SameReportIds_OtherContent_OtherIds()
    {
        const string Body = """{"status":{"execution":"closed","result":{"finished":"failure"},"details":["No suitable .swu image found"]}}""";
        var first = DdiFeedbackMapping.ToReports(Parse(Body), Offer).Single();
        var again = DdiFeedbackMapping.ToReports(Parse(Body.Replace("\"status\"", "\"time\":\"x\",\"status\"", StringComparison.Ordinal)), Offer).Single();
        var other = DdiFeedbackMapping.ToReports(Parse(Body.Replace("No suitable", "Another", StringComparison.Ordinal)), Offer).Single();

        Assert.Equal(first.ReportId, again.ReportId);
        Assert.NotEqual(first.ReportId, other.ReportId);
        Assert.Equal((OfferStatus.Failed, "E_DDI_NO_SUITABLE_SWU_IMAGE_FOUND"), (first.Step, first.ErrorCode));
    }

    [Theory]
    [InlineData("""{"status":{"execution":"closed","result":{"finished":"failure"},"code":42,"details":["E_X: y"]}}""", "E_DDI_42")]
    [InlineData("""{"status":{"execution":"closed","result":{"finished":"failure"},"details":["flash: E_FLASH_WRITE at 0x100"]}}""", "E_FLASH_WRITE")]
    [InlineData("""{"status":{"execution":"closed","result":{"finished":"failure"},"details":[]}}""", "E_DDI_FAILURE")]
    [InlineData("""{"status":{"execution":"closed","result":{"finished":"failure"},"details":["Installing Update Chunk Artifacts.","ERROR hash mismatch : 68f264283c3eeb53273c81"]}}""", "E_DDI_ERROR_HASH_MISMATCH")]
    public void ErrorCode_FromCodeThenTokenThenFirstDetail(string body, string expected) =>
        Assert.Equal(expected, DdiFeedbackMapping.ErrorCode(Parse(body)));

    [Fact]
    public void Attributes_MappedNamesBecomeFacts_SlotNamesEndingIn0Or1AreAOrB()
    {
        var config = DdiAttributes.Parse(Json("""{"data":{"model":"MF286D","version":"R1.0","slot":"rootfs.1","battery_percent":"55","free_storage_bytes":1024,"board":"x"}}"""), new DdiOptions());

        Assert.False(config.Replace);
        Assert.Equal(new DeviceFactsPatch("MF286D", null, null, null, "R1.0", BootSlot.B, 55, 1024, null), config.Patch);
        var (facts, missing) = config.Patch.ApplyTo(null, replace: false);
        Assert.Null(missing);
        Assert.Equal(new DeviceFacts("MF286D", "", "", "", "R1.0", BootSlot.B, 55, 1024, ""), facts);
    }

    [Fact]
    public void Attributes_RenamedByConfiguration_AndMergedOverStoredFacts()
    {
        var options = new DdiOptions { Attributes = { Model = "product", CurrentVersion = "sw_version" } };
        var stored = new DeviceFacts("MF286D", "r1", "EU", "acme", "R1.0", BootSlot.A, 80, 5000, "swupdate");

        var config = DdiAttributes.Parse(Json("""{"mode":"merge","data":{"product":"MF286D","sw_version":"R2.0"}}"""), options);
        var (facts, _) = config.Patch.ApplyTo(stored, config.Replace);

        Assert.Equal(stored with { CurrentVersion = "R2.0" }, facts);
    }

    [Theory]
    [InlineData("bytes=100-", 100, 999)]
    [InlineData("bytes=100-199", 100, 199)]
    [InlineData("bytes=100-5000", 100, 999)]
    [InlineData("bytes=0-1,5-9", 0, 999)]
    [InlineData("items=1-", 0, 999)]
    [InlineData("bytes=1000-", 1000, 999)]
    public void RangeOf_ReadsOneRange_OtherwiseTheWholeFile(string header, long start, long end)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.Range = header;

        Assert.Equal((start, end), DdiService.RangeOf(context.Request, 1000));
    }

    private static DdiFeedback Parse(string json) => DdiFeedbackMapping.Parse(Json(json));

    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();
}
