"""Data quality per touchpoint, pure: what one classification adds to the counters, and how the report reads them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from touchpoints.classification.funnel import Cause
from touchpoints.classification.quality import DataQualityReport, quality_change

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WEB = Cause("web", "sign_up")


def test_a_new_profiles_touchpoint_confirms_each_field_it_brought_and_each_enters_the_ages():
    change = quality_change(
        version=1,
        counted_version=None,
        counted={},
        confirmed_at={"email": NOW, "given_name": NOW, "not_a_field": NOW},
        touchpoint=WEB,
        now=NOW,
    )
    assert change.confirmed == ("email", "given_name")
    assert change.ages == {("email", NOW.date()): 1, ("given_name", NOW.date()): 1}
    assert change.touchpoint_counts == {
        "touchpoints|web|sign_up": 1,
        "identity|web|sign_up": 1,
        "contact|web|sign_up": 1,
        "field.email|web|sign_up": 1,
        "field.given_name|web|sign_up": 1,
    }


def test_a_field_confirmed_again_moves_from_its_old_day_only_when_the_day_changes():
    earlier = NOW - timedelta(hours=2)
    last_week = NOW - timedelta(days=7)
    change = quality_change(
        version=5,
        counted_version=4,
        counted={"email": earlier, "phone": last_week},
        confirmed_at={"email": NOW, "phone": NOW},
        touchpoint=Cause("sms", "click"),
        now=NOW,
    )
    assert change.confirmed == ("email", "phone")
    assert change.ages == {("phone", last_week.date()): -1, ("phone", NOW.date()): 1}
    assert "identity|sms|click" not in change.touchpoint_counts


def test_a_touchpoint_that_confirms_nothing_counts_as_a_touchpoint_only():
    change = quality_change(
        version=3, counted_version=2, counted={"email": NOW}, confirmed_at={"email": NOW}, touchpoint=WEB, now=NOW
    )
    assert change.touchpoint_counts == {"touchpoints|web|sign_up": 1} and not change.ages


def test_a_revision_counted_already_or_written_by_another_writer_counts_no_touchpoint():
    swept = quality_change(
        version=3, counted_version=3, counted={"email": NOW}, confirmed_at={"email": NOW}, touchpoint=WEB, now=NOW
    )
    assert not swept.counts
    old = NOW - timedelta(days=400)
    merged = quality_change(
        version=4, counted_version=3, counted={"email": old}, confirmed_at={"email": NOW}, touchpoint=None, now=NOW
    )
    assert merged.touchpoint is None and merged.confirmed == ()
    assert merged.ages == {("email", old.date()): -1, ("email", NOW.date()): 1}
    rectified = quality_change(
        version=5, counted_version=4, counted={"email": NOW}, confirmed_at={}, touchpoint=None, now=NOW
    )
    assert rectified.ages == {("email", NOW.date()): -1} and rectified.counted == {}


def test_the_report_buckets_ages_at_their_edges_and_never_is_everyone_else():
    today = NOW.date()
    ages = {("email", today - timedelta(days=days)): 1 for days in (0, 30, 31, 90, 91, 365, 366)}
    ages[("email", date(2020, 1, 1))] = 2
    ages[("phone", today)] = 0  # a day every profile moved on from
    report = DataQualityReport(today, today, NOW, {}, ages, profiles=12).as_dict()
    assert report["field_age"]["by_field"]["email"] == {"0-30": 2, "31-90": 2, "91-365": 2, ">365": 3, "never": 3}
    assert report["field_age"]["by_field"]["phone"]["never"] == 12


def test_the_report_gives_each_channels_action_its_shares():
    counts = {
        ("touchpoints", "store", "purchase"): 4,
        ("identity", "store", "purchase"): 1,
        ("contact", "store", "purchase"): 3,
        ("field.rfc", "store", "purchase"): 1,
        ("touchpoints", "web", "page_view"): 0,
    }
    (row,) = DataQualityReport(NOW.date(), NOW.date(), NOW, counts, {}, profiles=0).as_dict()["touchpoints"]
    assert row == {
        "channel": "store",
        "action": "purchase",
        "touchpoints": 4,
        "confirmed_identity": 1,
        "confirmed_contact": 3,
        "identity_share": 0.25,
        "contact_share": 0.75,
        "fields": {"rfc": 1},
    }


def test_only_the_touchpoints_own_classification_credits_it_and_a_profile_older_than_the_counters_starts_clean():
    from touchpoints.classification.classify import ProfileFacts
    from touchpoints.classification.funnel import TIME
    from touchpoints.classification.quality import of_facts

    def facts(**extra: object) -> ProfileFacts:
        base = dict(
            subject_id="sub_x",
            status="active",
            origin_channel="web",
            version=7,
            consent_version=1,
            field_confirmed_at={"email": NOW},
            consents={},
            trace_counts={},
            last_trace_at=None,
            changed_by="ingest",
            last_channel="web",
            last_action="sign_up",
            quality_version=6,
            quality_counted={"email": NOW - timedelta(days=1)},
        )
        return ProfileFacts(**{**base, **extra})  # type: ignore[arg-type]

    assert of_facts(facts(), NOW, WEB).touchpoint == WEB
    # the daily sweep classifying the same revision credits no touchpoint, though the ages still move
    swept = of_facts(facts(), NOW, TIME)
    assert swept.touchpoint is None and swept.ages
    # a profile classified before the counters existed enters the ages; its past is not credited to this touchpoint
    older = of_facts(facts(quality_version=None, quality_counted={}, classified_version=6), NOW, WEB)
    assert older.touchpoint is None and older.ages == {("email", NOW.date()): 1}
