using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Tests.Domain;

/// <summary>The check-in's review of an open offer, and the proof a SUCCEEDED report must carry, as pure functions.</summary>
public sealed class OpenOfferReviewTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 3, 10, 0, 0, TimeSpan.Zero);

    private static readonly ActiveCampaign Running =
        new("c", 0, Eligibility.Everyone, TimeSpan.FromHours(1), ImmutableDictionary<string, ModelTarget>.Empty);

    private static OfferRecord Offer(OfferStatus status = OfferStatus.Offered, BootSlot sourceSlot = BootSlot.A) =>
        new("of-1", "c", "pkg", "B2.0", [], [], 100, "sha", status, 0, null, Now.AddMinutes(-5), Now.AddMinutes(-5), Now.AddHours(1), [], "B1.0")
        {
            SourceSlot = sourceSlot,
        };

    private static DeviceReport Succeeded(string? running, BootSlot slot) =>
        new("of-1", "r-1", OfferStatus.Succeeded, 0, null, null, running, slot);

    [Theory]
    [InlineData(OfferStatus.Offered, "B1.0", OpenOfferVerdict.Keep)]
    [InlineData(OfferStatus.Installed, "B1.0", OpenOfferVerdict.Keep)]
    [InlineData(OfferStatus.Installed, "B2.0", OpenOfferVerdict.SucceededInferred)]
    [InlineData(OfferStatus.Offered, "b2.00", OpenOfferVerdict.SucceededInferred)] // equal in the version order
    [InlineData(OfferStatus.Downloading, "B3.0", OpenOfferVerdict.WithdrawnVersionChanged)]
    [InlineData(OfferStatus.Installed, "B0.9", OpenOfferVerdict.WithdrawnVersionChanged)]
    public void Review_RunningCampaign_FollowsWhatTheDeviceRuns(OfferStatus status, string running, OpenOfferVerdict expected)
    {
        Assert.Equal(expected, OpenOfferReview.Review(Offer(status), running, Running, Now));
    }

    [Fact]
    public void Review_PastTheDeadline_TimesOut_UnlessTheDeviceRunsTheTarget()
    {
        var later = Now.AddHours(2);

        Assert.Equal(OpenOfferVerdict.TimedOut, OpenOfferReview.Review(Offer(OfferStatus.Installed), "B1.0", Running, later));
        Assert.Equal(OpenOfferVerdict.TimedOut, OpenOfferReview.Review(Offer(OfferStatus.Installed), "B3.0", Running, later));
        Assert.Equal(OpenOfferVerdict.SucceededInferred, OpenOfferReview.Review(Offer(OfferStatus.Installed), "B2.0", Running, later));
    }

    [Theory]
    [InlineData(OfferStatus.Offered, OpenOfferVerdict.WithdrawnHalted)]
    [InlineData(OfferStatus.Downloading, OpenOfferVerdict.Keep)]
    [InlineData(OfferStatus.Installed, OpenOfferVerdict.Keep)]
    public void Review_HaltedCampaign_WithdrawsOnlyOffersNotYetDownloading(OfferStatus status, OpenOfferVerdict expected)
    {
        var halted = Running with { ExposurePercent = 0, Halted = true };

        Assert.Equal(expected, OpenOfferReview.Review(Offer(status), "B1.0", halted, Now));
    }

    [Fact]
    public void Review_PausedCampaign_KeepsItsOffers_AnEndedOneTakesItsUnstartedOffers()
    {
        var paused = Running with { ExposurePercent = 0 };

        Assert.Equal(OpenOfferVerdict.Keep, OpenOfferReview.Review(Offer(), "B1.0", paused, Now));
        Assert.Equal(OpenOfferVerdict.CampaignEnded, OpenOfferReview.Review(Offer(), "B1.0", null, Now));
        Assert.Equal(OpenOfferVerdict.Keep, OpenOfferReview.Review(Offer(OfferStatus.Downloading), "B1.0", null, Now));
    }

    [Fact]
    public void Closing_EachVerdict_HasItsStatusAndCode_OnlyATimeoutIsAFailure()
    {
        Assert.Equal((OfferStatus.Succeeded, "SUCCEEDED_INFERRED"), OpenOfferReview.Closing(OpenOfferVerdict.SucceededInferred));
        Assert.Equal((OfferStatus.TimedOut, "E_TIMED_OUT"), OpenOfferReview.Closing(OpenOfferVerdict.TimedOut));
        Assert.Equal((OfferStatus.Canceled, "WITHDRAWN_VERSION_CHANGED"), OpenOfferReview.Closing(OpenOfferVerdict.WithdrawnVersionChanged));
        Assert.Equal((OfferStatus.Canceled, "WITHDRAWN_CAMPAIGN_HALTED"), OpenOfferReview.Closing(OpenOfferVerdict.WithdrawnHalted));
        Assert.Equal((OfferStatus.Canceled, (string?)null), OpenOfferReview.Closing(OpenOfferVerdict.CampaignEnded));
        Assert.Throws<ArgumentOutOfRangeException>(() => OpenOfferReview.Closing(OpenOfferVerdict.Keep));
    }

    [Theory]
    [InlineData(null, BootSlot.B, "running_version")]
    [InlineData("B1.0", BootSlot.B, "running_version")]
    [InlineData("B2.0", BootSlot.A, "active_slot")]
    [InlineData("B2.0", BootSlot.Unspecified, "active_slot")]
    public void SuccessProof_MissingOrWrong_NamesTheField(string? running, BootSlot slot, string field)
    {
        Assert.Equal(field, SuccessProof.Problem(Offer(OfferStatus.Installed), Succeeded(running, slot))?.Field);
    }

    [Fact]
    public void SuccessProof_TargetFromTheOtherSlot_Proves_AndAnOfferWithoutARecordedSlotNeedsTheVersionOnly()
    {
        Assert.Null(SuccessProof.Problem(Offer(OfferStatus.Installed, BootSlot.A), Succeeded("B2.0", BootSlot.B)));
        Assert.Null(SuccessProof.Problem(Offer(OfferStatus.Installed, BootSlot.B), Succeeded("b2.0", BootSlot.A)));
        Assert.Null(SuccessProof.Problem(Offer(OfferStatus.Installed, BootSlot.Unspecified), Succeeded("B2.0", BootSlot.Unspecified)));
        Assert.Equal("active_slot", SuccessProof.Problem(Offer(OfferStatus.Installed, BootSlot.B), Succeeded("B2.0", BootSlot.B))?.Field);
    }

    [Fact]
    public void SuccessProof_OldSlot_SaysItIsARollBack()
    {
        var problem = SuccessProof.Problem(Offer(OfferStatus.Installed, BootSlot.A), Succeeded("B2.0", BootSlot.A));

        Assert.Equal(
            "is SLOT_A, the slot active when offer 'of-1' was made; SUCCEEDED needs SLOT_B active, a boot back into the old slot is ROLLED_BACK",
            problem?.Description);
    }
}
