using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Tests.Domain;

/// <summary>A halt names where the failures are: the cohort value that explains them and the error code behind them.</summary>
public sealed class CohortAttributionTests
{
    [Fact]
    public void Blame_FailureConfinedToOneModelInMixedFleet_NamesThatModelNotTheSharedRegion()
    {
        // 500 devices in one region: MF-B (100) fails 30 times, MF-A and MF-C (200 each) twice each.
        var outcomes = Devices("MF-A", 200, failures: 2, "E_DOWNLOAD")
            .Concat(Devices("MF-B", 100, failures: 30, "E_BOOT_LOOP"))
            .Concat(Devices("MF-C", 200, failures: 2, "E_DOWNLOAD"));

        var blame = CohortAttribution.Blame(outcomes);

        Assert.Equal(new FailureBlame("model", "MF-B", 30, 100, "E_BOOT_LOOP", 30, 34), blame);
    }

    [Fact]
    public void Blame_ErrorsDominatedByOneCode_NamesThatCode()
    {
        var cohort = new Cohort("MF-A", "R1", "EU", "C1", "1.0");
        CohortOutcome[] outcomes =
        [
            .. Enumerable.Repeat(new CohortOutcome(cohort, true, true, "E_BOOT_LOOP"), 7),
            .. Enumerable.Repeat(new CohortOutcome(cohort, true, true, "E_VERIFY"), 2),
            new CohortOutcome(cohort, true, true, null),
            .. Enumerable.Repeat(new CohortOutcome(cohort, true, false, null), 10),
        ];

        var blame = CohortAttribution.Blame(outcomes);

        // One cohort covers the whole fleet, so no value stands out; the code still does.
        Assert.Equal(new FailureBlame(null, null, 0, 0, "E_BOOT_LOOP", 7, 10), blame);
    }

    [Fact]
    public void Blame_NoFailures_NamesNothing()
    {
        var outcomes = Devices("MF-A", 50, failures: 0, "E_DOWNLOAD").Concat(Devices("MF-B", 50, failures: 0, "E_DOWNLOAD"));

        var blame = CohortAttribution.Blame(outcomes);

        Assert.Equal(new FailureBlame(null, null, 0, 0, null, 0, 0), blame);
    }

    [Fact]
    public void Blame_ModelAndRevisionExplainFailuresEqually_NamesOrdinallyFirstDimension()
    {
        var outcomes = Devices("MF-A", 100, failures: 1, "E_DOWNLOAD", hardwareRevision: "R1")
            .Concat(Devices("MF-B", 100, failures: 20, "E_BOOT_LOOP", hardwareRevision: "R9"));

        var blame = CohortAttribution.Blame(outcomes);

        Assert.Equal(new FailureBlame("hardware_revision", "R9", 20, 100, "E_BOOT_LOOP", 20, 21), blame);
    }

    [Fact]
    public void Blame_DevicesStillInProgress_DoNotDiluteTheCohort()
    {
        var inProgress = new CohortOutcome(new Cohort("MF-B", "R1", "EU", "C1", "1.0"), false, false, null);
        var outcomes = Devices("MF-A", 10, failures: 0, "E_DOWNLOAD")
            .Concat(Devices("MF-B", 10, failures: 5, "E_BOOT_LOOP"))
            .Concat(Enumerable.Repeat(inProgress, 1000));

        var blame = CohortAttribution.Blame(outcomes);

        Assert.Equal(new FailureBlame("model", "MF-B", 5, 10, "E_BOOT_LOOP", 5, 5), blame);
    }

    /// <summary>
    /// <paramref name="count"/> completed devices of one model in region EU, the first <paramref name="failures"/>
    /// failed; hardware revision, carrier and source version vary by index so that only the model is confined.
    /// </summary>
    private static IEnumerable<CohortOutcome> Devices(string model, int count, int failures, string errorCode, string? hardwareRevision = null) =>
        Enumerable.Range(0, count).Select(i => new CohortOutcome(
            new Cohort(model, hardwareRevision ?? (i % 2 == 0 ? "R1" : "R2"), "EU", $"C{i % 3}", i % 4 == 0 ? "1.0" : "1.1"),
            Completed: true,
            Failed: i < failures,
            ErrorCode: i < failures ? errorCode : null));
}
