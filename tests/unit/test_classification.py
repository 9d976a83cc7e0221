"""classify(): the rules of policies/classification.yaml applied to profile items, without AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from touchpoints.classification.classify import MalformedProfile, ProfileFacts, classify
from touchpoints.classification.counts import Tally, TallyKind
from touchpoints.classification.rules import Dimension, State, load_rules, parse_rules
from touchpoints.classification.service import ClassificationWrite, ClassifierService, Outcome
from touchpoints.consent import load_policy

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RULES = load_rules()


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def consent(granted: bool = True, days: float = 1) -> dict[str, Any]:
    return {"granted": granted, "at": ago(days), "source": "web", "policy_version": "2026-11-01"}


def profile(
    fields: dict[str, float] | None = None,
    consents: dict[str, dict[str, Any]] | None = None,
    transactional: int = 0,
    visit: int = 0,
    last_trace_days: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A profile item as the stream's NewImage deserializes it; field values are opaque bytes."""
    item: dict[str, Any] = {
        "pk": "SUBJECT#sub_1",
        "sk": "PROFILE",
        "subject_id": "sub_1",
        "status": "active",
        "origin_channel": "web",
        "version": Decimal(3),
        "consent_version": Decimal(1),
        "fields": {
            name: {"v": b"\x00ciphertext", "at": ago(days), "ch": "web"} for name, days in (fields or {}).items()
        },
        "consents": consents or {},
        "trace_transactional": Decimal(transactional),
        "trace_visit": Decimal(visit),
        "changed_by": "ingest",
    }
    if last_trace_days is not None:
        item["last_trace_at"] = ago(last_trace_days)
    item.update(extra)
    return item


def run(item: dict[str, Any], rules=RULES):
    return classify(ProfileFacts.from_item(item), rules, NOW)


MARKETING_ALL = {"marketing:all": consent()}
FULL_NAME = {"given_name": 1, "family_name": 1}


class TestRulesFile:
    def test_the_shipped_rules_load_and_name_real_purposes_and_programs(self):
        assert RULES.version
        assert RULES.contactability.purpose in load_policy().purposes
        assert set(RULES.programs) == {
            "loyalty",
            "data_update",
            "ticket_registration",
            "digital_draw",
            "digital_ticket",
            "home_delivery",
            "digital_registration",
            "subscription",
        }

    def test_every_state_letter_is_one_region_of_the_diagram(self):
        assert {State.of(s.dimensions) for s in State} == set(State)
        assert State.A.dimensions == {Dimension.IDENTITY, Dimension.CONTACTABILITY, Dimension.TRACEABILITY}
        assert State.U.dimensions == frozenset()

    @pytest.mark.parametrize(
        ("path", "value", "message"),
        [
            ("identity.any_of", [["given_name", "email"]], "non-identity"),
            ("contactability.channels", {"email": "fax"}, "unknown channel"),
            ("contactability.channels", {"rfc": "email"}, "non-contact"),
        ],
    )
    def test_rules_that_cannot_be_applied_are_refused(self, path, value, message):
        import yaml

        from touchpoints.policies import policy_text

        text = policy_text("classification.yaml")
        # Plain dicts: samcli, loaded by other tests in the same process, makes safe_load build OrderedDicts,
        # which safe_dump refuses
        data = json.loads(json.dumps(yaml.safe_load(text)))
        section, key = path.split(".")
        data[section][key] = value
        with pytest.raises(ValueError, match=message):
            parse_rules(yaml.safe_dump(data))


class TestIdentity:
    def test_a_bare_given_name_is_not_a_person(self):
        assert Dimension.IDENTITY not in run(profile({"given_name": 1})).dimensions

    @pytest.mark.parametrize("fields", [FULL_NAME, {"rfc": 1}, {"curp": 1}])
    def test_full_name_rfc_or_curp_is_enough(self, fields):
        result = run(profile(fields))
        assert result.state is State.E
        assert set(result.identity_by) <= set(fields)


class TestContactability:
    def test_contact_data_without_marketing_consent_does_not_count(self):
        result = run(profile({"email": 1}, {"personalization:all": consent()}))
        assert result.state is State.U
        assert result.contact_channels == ()

    def test_each_field_counts_on_its_own_channel_only(self):
        result = run(profile({"email": 1, "phone": 1}, {"marketing:sms": consent()}))
        assert result.contact_channels == ("sms",)
        assert result.state is State.F

    def test_a_channel_specific_no_overrides_a_yes_for_all_channels(self):
        consents = {"marketing:all": consent(days=30), "marketing:email": consent(granted=False, days=2)}
        assert run(profile({"email": 1}, consents)).state is State.U
        assert run(profile({"email": 1, "push_token": 1}, consents)).contact_channels == ("push",)

    def test_postal_address_has_no_channel_and_needs_marketing_on_all(self):
        assert run(profile({"postal_address": 1}, {"marketing:email": consent()})).state is State.U
        assert run(profile({"postal_address": 1}, MARKETING_ALL)).contact_channels == ("all",)

    def test_whatsapp_reaches_through_the_contact_center(self):
        result = run(profile({"whatsapp": 1}, {"marketing:contact-center": consent()}))
        assert result.contact_channels == ("contact-center",)

    def test_a_social_handle_is_not_a_channel_we_send_on(self):
        assert run(profile({"social_handle": 1}, MARKETING_ALL)).state is State.U


class TestTraceability:
    def test_a_purchase_counts_for_five_years(self):
        result = run(profile(transactional=1, last_trace_days=1800))
        assert result.state is State.G
        assert [k.value for k in result.trace_kinds] == ["transactional"]

    def test_a_visit_counts_while_its_record_is_kept(self):
        assert run(profile(visit=4, last_trace_days=394)).state is State.G
        assert run(profile(visit=4, last_trace_days=396)).state is State.U

    def test_no_counter_no_trace(self):
        assert run(profile(last_trace_days=1)).state is State.U


@pytest.mark.parametrize(
    ("item", "state"),
    [
        (profile(FULL_NAME | {"email": 1}, MARKETING_ALL, transactional=1, last_trace_days=1), State.A),
        (profile({"rfc": 1, "email": 1}, MARKETING_ALL), State.B),
        (profile({"curp": 1}, transactional=2, last_trace_days=3), State.C),
        (profile({"phone": 1}, MARKETING_ALL, visit=1, last_trace_days=3), State.D),
        (profile(FULL_NAME), State.E),
        (profile({"email": 1}, MARKETING_ALL), State.F),
        (profile(visit=1, last_trace_days=3), State.G),
        (profile(), State.U),
    ],
)
def test_each_region_of_the_diagram_has_its_letter(item, state):
    result = run(item)
    assert result.state is state
    assert set(result.dimensions) | set(result.missing) == set(Dimension)
    assert set(result.dimensions) == state.dimensions


class TestFreshness:
    def test_contact_data_not_confirmed_for_a_year_is_stale_but_still_reaches(self):
        result = run(profile(FULL_NAME | {"email": 400}, MARKETING_ALL, transactional=1, last_trace_days=1))
        assert result.stale_fields == ("email",)
        assert result.state is State.A
        assert result.recommendations == ("loyalty", "data_update")  # loyalty also keeps contact data current

    def test_rules_may_say_stale_contact_data_no_longer_reaches(self):
        strict = RULES.model_copy(
            update={"freshness": RULES.freshness.model_copy(update={"stale_contact_counts": False})}
        )
        result = run(profile(FULL_NAME | {"email": 400}, MARKETING_ALL), strict)
        assert result.state is State.E

    def test_identity_ages_more_slowly_than_contact_data(self):
        assert run(profile({"rfc": 400})).stale_fields == ()
        assert run(profile({"rfc": 1100})).stale_fields == ("rfc",)


class TestRecommendations:
    def test_a_cash_buyer_is_asked_to_register_the_ticket_first(self):
        result = run(profile(transactional=1, last_trace_days=1))
        assert result.recommendations == ("ticket_registration", "digital_draw", "digital_registration")

    def test_known_and_reachable_but_never_traced_gets_the_loyalty_program(self):
        assert run(profile({"rfc": 1, "email": 1}, MARKETING_ALL)).recommendations == ("loyalty",)

    def test_state_a_with_fresh_data_is_sustained_by_loyalty(self):
        result = run(profile(FULL_NAME | {"email": 1}, MARKETING_ALL, transactional=1, last_trace_days=1))
        assert result.recommendations == ("loyalty",)

    def test_known_traced_but_unreachable_gets_programs_that_bring_contact_data(self):
        result = run(profile({"curp": 1}, transactional=1, last_trace_days=1))
        assert result.recommendations == ("ticket_registration", "digital_ticket", "digital_draw")
        assert result.missing == (Dimension.CONTACTABILITY,)

    def test_programs_that_need_a_trace_are_not_offered_to_an_empty_profile(self):
        result = run(profile())
        assert "ticket_registration" not in result.scores
        assert "digital_ticket" not in result.scores
        assert result.recommendations[0] == "digital_draw"


class TestProfileImage:
    def test_no_value_is_read_and_a_broken_image_names_no_value(self):
        item = profile({"email": 1})
        item["version"] = "not-a-number-but-maybe-pii@example.com"
        with pytest.raises(MalformedProfile) as error:
            ProfileFacts.from_item(item)
        assert "example.com" not in str(error.value)

    def test_missing_version_is_malformed(self):
        item = profile()
        del item["version"]
        with pytest.raises(MalformedProfile):
            ProfileFacts.from_item(item)


class FakeStore:
    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.writes: list[ClassificationWrite] = []

    def save(self, write: ClassificationWrite) -> bool:
        self.writes.append(write)
        return self.answer

    def load(self, subject_id: str):
        return None  # refused because the profile went away

    def distribution(self):
        return {}


def tally() -> Tally:
    return Tally.open(TallyKind.STREAM, NOW + timedelta(minutes=1))


class TestService:
    def service(self, store: FakeStore) -> ClassifierService:
        return ClassifierService(store, RULES, clock=lambda: NOW)

    def test_first_classification_is_a_change_from_nothing(self):
        store = FakeStore()
        result = self.service(store).handle(profile(visit=1, last_trace_days=1), tally())
        assert (result.outcome, result.previous, result.state) == (Outcome.CHANGED, None, State.G)
        assert store.writes[0].expected_version == 3
        assert store.writes[0].expected_state is None

    def test_its_own_write_is_recognised_and_not_written_again(self):
        store = FakeStore()
        item = profile(
            visit=1,
            last_trace_days=1,
            state="G",
            classified_version=Decimal(3),
            classified_consent_version=Decimal(1),
            rules_version=RULES.version,
        )
        assert self.service(store).handle(item, tally()).outcome is Outcome.CURRENT
        assert store.writes == []

    def test_new_rules_reclassify_the_same_revision(self):
        store = FakeStore()
        item = profile(
            state="G", classified_version=Decimal(3), classified_consent_version=Decimal(1), rules_version="old"
        )
        result = self.service(store).handle(item, tally())
        assert (result.outcome, result.previous, result.state) == (Outcome.CHANGED, State.G, State.U)

    def test_a_refused_write_is_a_stale_record_not_a_failure(self):
        assert self.service(FakeStore(answer=False)).handle(profile(), tally()).outcome is Outcome.STALE

    def test_a_profile_being_erased_is_left_alone(self):
        store = FakeStore()
        assert self.service(store).handle(profile(status="erasing"), tally()).outcome is Outcome.INACTIVE
        assert store.writes == []


def test_reclassify_at_is_the_first_moment_time_alone_changes_the_result():
    # contact fresh for 365 days, identity 1095, a visit counts 395, a purchase 1825
    item = profile({"email": 100, "given_name": 10, "family_name": 10}, visit=1, transactional=1, last_trace_days=50)
    result = classify(ProfileFacts.from_item(item), RULES, NOW)
    assert result.reclassify_at == NOW - timedelta(days=100) + timedelta(days=365, seconds=1)

    # and at that moment, the result is indeed different; a second before, it is not
    facts = ProfileFacts.from_item(item)
    due = result.reclassify_at
    assert classify(facts, RULES, due).stale_fields != result.stale_fields
    assert classify(facts, RULES, due - timedelta(seconds=1)).stale_fields == result.stale_fields


def test_reclassify_at_skips_moments_already_past_and_is_none_when_nothing_will_age():
    aged = classify(ProfileFacts.from_item(profile({"email": 400}, visit=1, last_trace_days=100)), RULES, NOW)
    assert aged.reclassify_at == NOW - timedelta(days=100) + timedelta(days=395, seconds=1)  # the visit ages out
    assert classify(ProfileFacts.from_item(profile({"email": 400})), RULES, NOW).reclassify_at is None
    assert classify(ProfileFacts.from_item(profile()), RULES, NOW).reclassify_at is None
