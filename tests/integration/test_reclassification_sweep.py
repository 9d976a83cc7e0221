"""The daily sweep: profiles no touchpoint changed, but time did (contact data going stale, traces ageing out).

Time is moved by ageing what a profile stores: every timestamp it holds is set back by the same number of
days, which is what the profile would look like that many days later.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests import factories
from tests.conftest import FUNCTIONS
from tests.integration.test_classifier_stream import Pipeline, strings
from tests.people import person
from touchpoints.adapters import keys
from touchpoints.wiring import container

SWEEP = "ReclassifierFunction"
SCHEDULED_EVENT = factories.load_event("reclassifier-daily.json")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT[0-9:.]+\+00:00")
_DAY = re.compile(r"^\d{4}-\d\d-\d\d(?=#)")


@pytest.fixture
def pipeline(lambdas, local_aws, monkeypatch) -> Pipeline:
    # Profiles are aged by a year or more at once, as if the sweep had not run all that time.
    monkeypatch.setenv("RECLASSIFY_LOOKBACK_DAYS", "366")
    monkeypatch.setenv("RECLASSIFY_CONCURRENCY", "1")  # the concurrent sweep: tests/reliability/test_concurrency.py
    return Pipeline(lambdas, local_aws)


def _shift(value: Any, days: int) -> Any:
    if isinstance(value, dict):
        return {k: _shift(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, days) for v in value]
    if isinstance(value, str):
        value = _TIMESTAMP.sub(lambda m: (datetime.fromisoformat(m[0]) - timedelta(days=days)).isoformat(), value)
        return _DAY.sub(lambda m: (datetime.fromisoformat(m[0]) - timedelta(days=days)).date().isoformat(), value)
    return value


def age(pipeline: Pipeline, subject_id: str, days: int) -> None:
    """The profile as it will be `days` from now: every time it holds, `days` earlier."""
    item = _shift(pipeline.profile(subject_id), days)
    pipeline.aws.dynamodb.put_item(TableName=pipeline.aws.table("ProfileTable"), Item=item)
    pipeline.stream.read()  # the test's own rewrite is not a change the classifier must see


def overwrite(aws: Any, subject_id: str, attribute: str, text: str) -> None:
    """Set a profile attribute behind every writer's back, as an operator's mistake or another process would."""
    aws.dynamodb.update_item(
        TableName=aws.table("ProfileTable"),
        Key=keys.profile_key(subject_id),
        UpdateExpression="SET #a = :v",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":v": {"S": text}},
    )


def states(pipeline: Pipeline) -> dict[str, int]:
    answer = pipeline.lambdas.invoke("ProfileStateReportFunction", factories.load_event("report-profile-states.json"))
    assert answer["statusCode"] == 200, answer["body"]
    return dict(json.loads(answer["body"])["by_state"])


def sweep(pipeline: Pipeline) -> dict[str, int]:
    answer = pipeline.lambdas.invoke(SWEEP, SCHEDULED_EVENT)
    return dict(answer["outcomes"])


def signed_up(pipeline: Pipeline, n: int) -> str:
    subject_id = pipeline.post("web", factories.web(person(n)))
    pipeline.pump()
    assert pipeline.state(subject_id) == "A"
    return subject_id


def test_ageing_contact_data_and_an_ageing_visit_are_picked_up_by_the_daily_sweep(pipeline):
    # Given a web sign-up classified A (known, reachable, a visit), and a newer one not due for a year
    subject_id = signed_up(pipeline, 700)
    other = signed_up(pipeline, 701)
    profile = pipeline.profile(subject_id)
    email_confirmed = datetime.fromisoformat(profile["fields"]["M"]["email"]["M"]["at"]["S"])
    assert profile["reclassify_at"]["S"] == (email_confirmed + timedelta(days=365, seconds=1)).isoformat()

    # When 366 days pass: the contact fields are no longer fresh
    age(pipeline, subject_id, 366)
    outcomes = sweep(pipeline)

    # Then the profile is classified again: same state, the stale fields listed, the data update program recommended
    assert outcomes["refreshed"] == 1 and outcomes["changed"] == 0
    profile = pipeline.profile(subject_id)
    assert profile["state"]["S"] == "A"
    assert {"email", "phone"} <= set(strings(profile, "stale_fields"))
    assert "data_update" in strings(profile, "recommendations")
    assert pipeline.state(other) == "A" and not strings(pipeline.profile(other), "stale_fields")

    # When 30 more days pass: the visit (counted 395 days) ages out
    age(pipeline, subject_id, 30)
    outcomes = sweep(pipeline)

    # Then it moves to B and the change is recorded for migration measurements
    assert outcomes["changed"] == 1
    profile = pipeline.profile(subject_id)
    assert (profile["state"]["S"], profile["previous_state"]["S"]) == ("B", "A")
    assert profile["state_changed_at"]["S"] == profile["classified_at"]["S"]
    assert strings(profile, "missing") == ["T"]
    # ... and the classifier's own write is not a change for the stream-driven classifier
    assert pipeline.pump() == []

    # When the sweep runs again the same day, nothing is due
    assert sweep(pipeline)["changed"] + sweep(pipeline)["refreshed"] == 0
    assert pipeline.profile(subject_id)["classified_at"] == profile["classified_at"]


def test_the_state_report_follows_the_sweep(pipeline):
    subject_id = signed_up(pipeline, 702)
    before = states(pipeline)

    age(pipeline, subject_id, 400)
    sweep(pipeline)

    after = states(pipeline)
    assert (after["A"], after["B"]) == (before["A"] - 1, before["B"] + 1)


def test_a_sweep_short_of_time_takes_nothing_and_the_profiles_stay_due(pipeline, monkeypatch):
    subject_id = signed_up(pipeline, 703)
    age(pipeline, subject_id, 400)
    monkeypatch.setenv("RECLASSIFY_TIME_RESERVE_MS", str(FUNCTIONS[SWEEP].timeout * 1000 + 1))

    assert sum(sweep(pipeline).values()) == 0
    assert pipeline.state(subject_id) == "A"

    monkeypatch.setenv("RECLASSIFY_TIME_RESERVE_MS", "0")
    container.reset()  # settings are read once per container
    assert sweep(pipeline)["changed"] == 1
    assert pipeline.state(subject_id) == "B"


def test_a_profile_reclassified_since_it_was_read_is_left_alone(pipeline, local_aws):
    # Given a due profile whose due time moved after the sweep read it (another classification got there first)
    from touchpoints.adapters.classification_store import DynamoClassificationStore
    from touchpoints.classification.classify import ProfileFacts, classify
    from touchpoints.classification.rules import load_rules
    from touchpoints.classification.service import ClassificationWrite

    subject_id = signed_up(pipeline, 704)
    age(pipeline, subject_id, 400)
    image = DynamoClassificationStore(
        local_aws.dynamodb, local_aws.table("ProfileTable"), local_aws.table("StateCounterTable")
    ).load(subject_id)
    assert image is not None
    facts = ProfileFacts.from_item(image)
    now = datetime.fromisoformat(image["reclassify_at"]) + timedelta(days=1)
    write = ClassificationWrite(
        subject_id=subject_id,
        origin_channel=facts.origin_channel,
        expected_version=facts.version,
        expected_consent_version=facts.consent_version,
        expected_state=facts.state,
        result=classify(facts, load_rules(), now),
        classified_at=now,
        due_at=facts.reclassify_at - timedelta(seconds=1),
    )

    # Then its write is refused, and the profile is as it was
    store = DynamoClassificationStore(
        local_aws.dynamodb, local_aws.table("ProfileTable"), local_aws.table("StateCounterTable")
    )
    before = pipeline.profile(subject_id)
    assert store.save(write) is False
    assert pipeline.profile(subject_id) == before


def test_erased_or_erasing_profiles_are_not_swept(pipeline, local_aws):
    subject_id = signed_up(pipeline, 705)
    age(pipeline, subject_id, 400)
    overwrite(local_aws, subject_id, "status", "erasing")

    outcomes = sweep(pipeline)

    assert outcomes["inactive"] == 1 and outcomes["changed"] == 0
    assert pipeline.state(subject_id) == "A"


def test_an_unreadable_profile_is_skipped_and_the_others_are_swept(pipeline, local_aws):
    broken, fine = signed_up(pipeline, 706), signed_up(pipeline, 707)
    for subject_id in (broken, fine):
        age(pipeline, subject_id, 400)
    overwrite(local_aws, broken, "version", "not a number")

    outcomes = sweep(pipeline)

    assert (outcomes["malformed"], outcomes["changed"]) == (1, 1)
    assert (pipeline.state(broken), pipeline.state(fine)) == ("A", "B")


def new_rules_without_name_or_rfc_identity() -> Any:
    from importlib import resources

    from touchpoints.classification.rules import parse_rules

    text = resources.files("touchpoints.policies").joinpath("classification.yaml").read_text()
    old_identity = "    - [given_name, family_name]\n    - [rfc]\n    - [curp]\n"
    assert old_identity in text and 'version: "2026-11-01"' in text
    return parse_rules(text.replace(old_identity, "    - [curp]\n").replace("2026-11-01", "2026-12-01"))


def test_after_new_rules_are_deployed_every_profile_classified_under_the_old_ones_is_reclassified(
    pipeline, monkeypatch
):
    from touchpoints.wiring import classifier as classifier_wiring

    # Given three web sign-ups classified A under the rules of 2026-11-01
    subjects = [signed_up(pipeline, n) for n in (710, 711, 712)]
    # When rules that only accept a CURP as identity are deployed, and the operator asks for the pass
    monkeypatch.setattr(classifier_wiring, "load_rules", new_rules_without_name_or_rfc_identity)
    monkeypatch.setenv("RECLASSIFY_TIME_RESERVE_MS", str(FUNCTIONS[SWEEP].timeout * 1000 + 1))
    short = pipeline.lambdas.invoke(SWEEP, {"reclassify": "outdated_rules"})
    monkeypatch.setenv("RECLASSIFY_TIME_RESERVE_MS", "0")
    container.reset()
    answer = pipeline.lambdas.invoke(SWEEP, {"reclassify": "outdated_rules"})

    # Then a run short of time does nothing and says it is not complete; the next one finishes the job
    assert (short["complete"], short["outcomes"]["changed"]) == (False, 0)
    assert (answer["complete"], answer["outcomes"]["changed"]) == (True, 3)
    for subject_id in subjects:
        profile = pipeline.profile(subject_id)
        assert (profile["state"]["S"], profile["previous_state"]["S"]) == ("D", "A")
        assert profile["rules_version"]["S"] == "2026-12-01"
    # and a second pass finds nothing left under the old rules
    container.reset()
    again = pipeline.lambdas.invoke(SWEEP, {"reclassify": "outdated_rules"})
    assert again["complete"] and sum(again["outcomes"].values()) == 0
