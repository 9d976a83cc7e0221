"""The classifier driven by real stream records: touchpoints posted to the channels, the profile
table's stream read from moto, filtered by the template's FilterCriteria, delivered in batches."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import factories, streams
from tests.conftest import FUNCTIONS
from tests.people import person
from touchpoints.adapters.classification_store import DynamoClassificationStore
from touchpoints.classification.rules import State
from touchpoints.errors import StorageUnavailable
from touchpoints.wiring.classifier import superseded_records

CLASSIFIER = "ClassifierFunction"
SOURCE = FUNCTIONS[CLASSIFIER].streams[0]


def days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


class Pipeline:
    """Channels write; the stream carries every change; the classifier gets what its filter passes."""

    def __init__(self, lambdas: Any, local_aws: Any) -> None:
        self.lambdas = lambdas
        self.aws = local_aws
        self.stream = streams.TableStream(local_aws.table("ProfileTable"))
        self.read: list[dict[str, Any]] = []  # every record pump() read from the stream, in order

    def post(self, channel: str, body: dict[str, Any], resource: str = "touchpoints") -> str:
        status, answer = self.lambdas.post(channel, body, resource=resource)
        assert status == 200, answer
        return str(answer["results"][0].get("profile_id") or self.aws.subject_of_event(channel, body["event_id"]))

    def deliver(self, records: list[dict[str, Any]]) -> list[str]:
        """Invoke the classifier in BatchSize batches; the sequence numbers it reported as failed."""
        failed = []
        for start in range(0, len(records), SOURCE.batch_size):
            answer = self.lambdas.invoke(CLASSIFIER, streams.event(records[start : start + SOURCE.batch_size]))
            failed += [f["itemIdentifier"] for f in answer["batchItemFailures"]]
        return failed

    def pump(self) -> list[dict[str, Any]]:
        """Deliver everything new on the stream that passes the filter, until nothing new passes."""
        delivered = []
        while True:
            records = self.stream.read()
            self.read += records
            batch = streams.passing(SOURCE.filters, records)
            if not batch:
                return delivered
            assert self.deliver(batch) == []
            delivered += batch

    def profile(self, subject_id: str) -> dict[str, Any]:
        item = self.aws.dynamodb.get_item(
            TableName=self.aws.table("ProfileTable"),
            Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
            ConsistentRead=True,
        )["Item"]
        return item

    def state(self, subject_id: str) -> str | None:
        return self.profile(subject_id).get("state", {}).get("S")


@pytest.fixture
def pipeline(lambdas, local_aws) -> Pipeline:
    return Pipeline(lambdas, local_aws)


def strings(item: dict[str, Any], name: str) -> list[str]:
    return [v["S"] for v in item.get(name, {}).get("L", [])]


def test_each_state_is_reached_by_a_realistic_journey_across_channels(pipeline):
    p = [person(n) for n in range(20, 28)]
    subjects: dict[State, str] = {}

    # A: a cash buyer (G) registers the ticket on the web, with name, email and consent.
    buyer = pipeline.post("store", factories.store(None, folio="F-7001"))
    pipeline.pump()
    assert pipeline.state(buyer) == "G"
    registration = factories.web(
        p[0],
        action="ticket_registration",
        ticket={"store_id": "TDA-042", "folio": "F-7001"},
        customer={"given_name": p[0].given_name, "family_name": p[0].family_name, "email": p[0].email},
    )
    subjects[State.A] = pipeline.post("web", registration)
    assert subjects[State.A] == buyer
    # B: signed up on the web with everything, 500 days ago, and never came back.
    subjects[State.B] = pipeline.post("web", factories.web(p[1], occurred_at=days_ago(500)))
    # C: an identified store purchase: known and traced, only personalization consent (no marketing).
    subjects[State.C] = pipeline.post("store", factories.store(p[2], folio="F-7002"))
    # D: the app with an email and a push token and marketing consent, no name.
    subjects[State.D] = pipeline.post("app", factories.app(p[3]))
    # E: identified purchases from the POS history, older than the five years transactional traces count.
    subjects[State.E] = pipeline.post("store", factories.store(p[4], folio="F-7003", occurred_at=days_ago(2000)))
    # F: the old newsletter list: email with marketing consent for email, signed up two years ago.
    newsletter = factories.web(
        p[5],
        action="newsletter_signup",
        occurred_at=days_ago(730),
        customer={"email": p[5].email},
        consent=[
            {"purpose": "personalization", "granted": True},
            {"purpose": "marketing", "channel": "email", "granted": True},
        ],
    )
    subjects[State.F] = pipeline.post("web", newsletter)
    # G: a cash buyer.
    subjects[State.G] = pipeline.post("store", factories.store(None, folio="F-7004"))
    # U: an unsubscribe from an address we knew nothing about.
    subjects[State.U] = pipeline.post("email", factories.email(p[7], event="unsubscribe"))
    pipeline.pump()

    assert {state: pipeline.state(sid) for state, sid in subjects.items()} == {s: s.value for s in State}
    a = pipeline.profile(subjects[State.A])
    assert (a["previous_state"]["S"], a["changed_by"]["S"]) == ("G", "classifier")
    assert a["state_changed_at"]["S"] == a["classified_at"]["S"]
    assert strings(a, "dimensions") == ["I", "C", "T"] and strings(a, "missing") == []
    b = pipeline.profile(subjects[State.B])
    assert strings(b, "missing") == ["T"] and strings(b, "recommendations")[0] == "loyalty"
    assert set(strings(b, "stale_fields")) == {"email", "phone", "postal_address"}
    g = pipeline.profile(subjects[State.G])
    assert strings(g, "recommendations")[0] == "ticket_registration"
    assert "previous_state" not in g  # first classification: no previous state
    assert int(g["classified_version"]["N"]) == int(g["version"]["N"])


def test_withdrawing_consent_demotes_contactability(pipeline):
    p = person(30)
    subject = pipeline.post("app", factories.app(p))  # email + push token, marketing on all channels
    pipeline.pump()
    assert pipeline.state(subject) == "D"
    assert strings(pipeline.profile(subject), "contact_channels") == ["email", "push"]

    pipeline.post("email", factories.email(p, event="unsubscribe", occurred_at=factories.occurred(10)))
    pipeline.pump()
    item = pipeline.profile(subject)
    assert (item["state"]["S"], strings(item, "contact_channels")) == ("D", ["push"])

    pipeline.post("push", factories.push(p, event="opt_out", occurred_at=factories.occurred(11)))
    pipeline.pump()
    item = pipeline.profile(subject)
    assert (item["state"]["S"], item["previous_state"]["S"]) == ("G", "D")
    assert strings(item, "missing") == ["I", "C"]


def test_replayed_and_reordered_records_change_nothing(pipeline):
    p = person(31)
    subject = pipeline.post("store", factories.store(None, folio="F-8001"))
    pipeline.post(
        "web",
        factories.web(
            p,
            action="ticket_registration",
            ticket={"store_id": "TDA-042", "folio": "F-8001"},
            customer={"given_name": p.given_name, "family_name": p.family_name, "email": p.email},
        ),
    )
    pipeline.post("email", factories.email(p, event="unsubscribe", occurred_at=factories.occurred(10)))
    ingested = streams.passing(SOURCE.filters, pipeline.stream.read())
    assert len(ingested) == 3  # three revisions of the profile, none classified yet

    # Newest first: the newest revision is classified, the two older ones must not overwrite it.
    assert pipeline.deliver(list(reversed(ingested))) == []
    settled = pipeline.profile(subject)
    assert settled["state"]["S"] == "C"  # name and trace; the only contact channel was withdrawn
    assert int(settled["classified_version"]["N"]) == 3

    # Replays, alone, in order, reversed, twice in one batch: nothing is written.
    for replay in ([ingested[0]], ingested, list(reversed(ingested)), ingested + ingested):
        assert pipeline.deliver(copy.deepcopy(replay)) == []
        assert pipeline.profile(subject) == settled
    assert streams.passing(SOURCE.filters, pipeline.stream.read()) == []


def test_the_classifiers_own_write_does_not_trigger_it_again(pipeline):
    subject = pipeline.post("app", factories.app(person(32)))
    assert len(pipeline.pump()) == 1
    own = [r for r in pipeline.read if r["dynamodb"]["NewImage"].get("changed_by") == {"S": "classifier"}]
    assert len(own) == 1
    assert streams.passing(SOURCE.filters, own) == []  # the event source never delivers it

    # Delivered anyway (a mapping without the filter): recognised, not written, so no new record.
    classified = pipeline.profile(subject)
    assert pipeline.deliver(own) == []
    assert pipeline.profile(subject) == classified
    assert pipeline.stream.read() == []


def test_one_bad_record_is_reported_and_the_others_are_classified(pipeline):
    subjects = [pipeline.post("store", factories.store(None, folio=f"F-900{i}")) for i in range(3)]
    records = streams.passing(SOURCE.filters, pipeline.stream.read())
    broken = copy.deepcopy(records[1])
    del broken["dynamodb"]["NewImage"]["version"]

    failed = pipeline.deliver([records[0], broken, records[2]])

    assert failed == [broken["dynamodb"]["SequenceNumber"]]
    assert [pipeline.state(s) for s in subjects] == ["G", None, "G"]
    assert pipeline.deliver([records[1]]) == []  # the retry of the intact record succeeds
    assert pipeline.state(subjects[1]) == "G"


def test_only_profile_changes_pass_the_filter(pipeline):
    pipeline.post("store", factories.store(person(33), folio="F-9101"))
    records = pipeline.stream.read()
    kinds = {r["dynamodb"]["Keys"]["sk"]["S"].split("#")[0] for r in records}
    assert {"PROFILE", "EVENT", "CONSENT"} <= kinds
    assert not {"TOKEN", "LINK"} & kinds  # the identity index is a table of its own, without a stream
    passed = streams.passing(SOURCE.filters, records)
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in passed] == ["PROFILE"]
    removed = {**passed[0], "eventName": "REMOVE"}
    assert streams.passing(SOURCE.filters, [removed]) == []


def test_a_revision_replaced_in_the_same_batch_is_not_classified(pipeline):
    """Three revisions of one profile in one batch: only the latest is classified (the older two would be written
    on a revision the profile has left, a conditional write sure to fail); a profile alone in the batch is not
    skipped."""
    p = person(33)
    subject = pipeline.post("store", factories.store(None, folio="F-8101"))
    pipeline.post(
        "web",
        factories.web(
            p,
            action="ticket_registration",
            ticket={"store_id": "TDA-042", "folio": "F-8101"},
            customer={"given_name": p.given_name, "family_name": p.family_name, "email": p.email},
        ),
    )
    pipeline.post("email", factories.email(p, event="unsubscribe", occurred_at=factories.occurred(10)))
    other = pipeline.post("app", factories.app(person(34)))
    ingested = streams.passing(SOURCE.filters, pipeline.stream.read())
    ours = [r["dynamodb"]["SequenceNumber"] for r in ingested if r["dynamodb"]["Keys"]["pk"]["S"].endswith(subject)]
    assert len(ours) == 3 and len(ingested) == 4

    assert superseded_records(ingested) == frozenset(ours[:2])
    assert superseded_records(list(reversed(ingested))) == frozenset(ours[:2])  # by revision, not by position
    assert pipeline.deliver(ingested) == []
    settled = pipeline.profile(subject)
    assert settled["state"]["S"] == "C" and int(settled["classified_version"]["N"]) == 3
    assert "state" in pipeline.profile(other)


def _saves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The revisions the classifier tried to write, each as its expected version (the adapter, spied on)."""
    tried: list[int] = []
    save = DynamoClassificationStore.save

    def spied(store: DynamoClassificationStore, write: Any) -> bool:
        tried.append(write.expected_version)
        return save(store, write)

    monkeypatch.setattr(DynamoClassificationStore, "save", spied)
    return tried


def _moved_on_batch(pipeline: Pipeline, folio: str, n: int) -> tuple[str, list[dict[str, Any]]]:
    """A purchase's profile at revision 1 in a batch read before its revision 2 (a ticket registration) is written,
    with another person's profile, still at its batch's revision, beside it."""
    p = person(n)
    subject = pipeline.post("store", factories.store(None, folio=folio))
    pipeline.post("app", factories.app(person(n + 1)))
    batch = streams.passing(SOURCE.filters, pipeline.stream.read())
    registration = factories.web(
        p,
        action="ticket_registration",
        ticket={"store_id": "TDA-042", "folio": folio},
        customer={"given_name": p.given_name, "family_name": p.family_name, "email": p.email},
    )
    pipeline.post("web", registration)
    return subject, batch


def test_a_record_whose_profile_moved_on_after_its_batch_was_read_writes_nothing(pipeline, monkeypatch):
    """The batch asks the table where its profiles stand (one read): a record whose profile has a later revision
    is skipped, not written on a condition sure to fail; the later revision's own record classifies it."""
    subject, batch = _moved_on_batch(pipeline, "F-8201", 36)
    tried = _saves(monkeypatch)

    assert pipeline.deliver(batch) == []

    assert tried == [1]  # the other person's revision 1 only: nothing tried on the purchase's left-behind one
    assert "state" not in pipeline.profile(subject)
    pipeline.pump()
    assert tried == [1, 2]
    assert pipeline.state(subject) == "A"


def test_when_the_batch_cannot_read_where_its_profiles_stand_each_write_still_decides(pipeline, monkeypatch):
    """The read is a saving, not a step: when it fails, every record is classified as before, and the write on a
    revision the profile has left is refused by its condition; nothing fails, nothing is counted twice."""
    subject, batch = _moved_on_batch(pipeline, "F-8202", 38)
    tried = _saves(monkeypatch)

    def unavailable(store: DynamoClassificationStore, subject_ids: Any) -> Any:
        raise StorageUnavailable("the profile store is unavailable")

    monkeypatch.setattr(DynamoClassificationStore, "revisions", unavailable)
    assert pipeline.deliver(batch) == []

    assert sorted(tried) == [1, 1]  # both written; the purchase's refused, as its profile moved on
    assert "state" not in pipeline.profile(subject)
    pipeline.pump()
    assert pipeline.state(subject) == "A"


def test_a_profile_that_left_active_in_the_same_batch_is_not_classified_from_its_older_image(pipeline):
    """A profile created and, in the same batch, claimed by a merge (or frozen by an erasure): its active image is
    not classified (the write, conditioned on an active profile, could only fail); its departure is seen."""
    p = person(35)
    anonymous_id = "anon-35-batch"
    page_view = factories.web(
        p, "page_view", customer=None, consent=[{"purpose": "analytics", "granted": True}], anonymous_id=anonymous_id
    )
    anonymous = pipeline.post("web", page_view)
    known = pipeline.post("app", factories.app(p, "sign_up"))
    login = factories.web(p, "login", anonymous_id=anonymous_id, customer={"email": p.email})
    pipeline.post("web", factories.vouched(login, "web", pipeline.aws.tokenizer(), email=p.email))
    ingested = streams.passing(SOURCE.filters, pipeline.stream.read())
    images = {
        r["dynamodb"]["SequenceNumber"]: r["dynamodb"]["NewImage"]["status"]["S"]
        for r in ingested
        if r["dynamodb"]["Keys"]["pk"]["S"].endswith(anonymous)
    }
    assert sorted(images.values()) == ["active", "merging"]

    active = next(sequence for sequence, status in images.items() if status == "active")
    assert active in superseded_records(ingested)
    without_departure = [r for r in ingested if images.get(r["dynamodb"]["SequenceNumber"]) != "merging"]
    assert active not in superseded_records(without_departure)  # what shows it left is the other record
    assert pipeline.deliver(ingested) == []
    assert "state" not in pipeline.profile(anonymous)
    assert pipeline.state(known) is not None
