"""The pipeline's identity resolution, caching and retries, against an in-memory profile store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.test_privacy import CountingWrapper
from touchpoints.consent import load_policy
from touchpoints.errors import ConcurrentUpdate, DuplicateTouchpoint, StaleSubject, StorageUnavailable, SubjectErased
from touchpoints.identity.subject import SubjectSnapshot, TokenRecord
from touchpoints.ingestion import IngestionService, IngestStatus, ProfileWrite, ingest_touchpoints
from touchpoints.model import Channel, ConsentGrant, IdentifierKind, PersonalField, Touchpoint, Trace, TraceKind
from touchpoints.privacy.keyring import SubjectKeyring
from touchpoints.privacy.tokenizer import Tokenizer, token_kind

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


class InMemoryStore:
    """Implements the ProfileStore port with the same conditions as the DynamoDB adapter."""

    def __init__(self) -> None:
        self.tokens: dict[str, TokenRecord] = {}
        self.profiles: dict[str, dict] = {}
        self.keys: dict[str, bytes] = {}
        self.events: set[tuple[str, str, str]] = set()
        self.event_keys: set[tuple[str, str]] = set()
        self.event_reads = 0
        self.writes = 0
        self.reads = 0
        self.stale_next = 0

    def find_tokens(self, tokens: Collection[str]) -> dict[str, TokenRecord]:
        self.reads += 1
        return {t: self.tokens[t] for t in tokens if t in self.tokens}

    def load_subject(self, subject_id: str) -> SubjectSnapshot | None:
        self.reads += 1
        profile = self.profiles.get(subject_id)
        if profile is None or profile["status"] != "active" or subject_id not in self.keys:
            return None
        links = Counter(token_kind(t) for t, record in self.tokens.items() if record.subject_id == subject_id)
        verified = frozenset(name for name, value in profile["fields"].items() if value.verified)
        return SubjectSnapshot(
            subject_id,
            dict(profile["consents"]),
            profile["consent_version"],
            self.keys[subject_id],
            links,
            verified,
            profile.get("last_trace_at"),
        )

    def survivor_of(self, subject_id: str) -> str | None:
        profile = self.profiles.get(subject_id)
        return subject_id if profile and profile["status"] == "active" else None

    def has_event(self, subject_id: str, sort_key: str) -> bool:
        self.event_reads += 1
        return (subject_id, sort_key) in self.event_keys

    def write(self, change: ProfileWrite) -> None:
        self.writes += 1
        if self.stale_next:
            self.stale_next -= 1
            raise StaleSubject
        if (change.subject_id, change.channel, change.event_id) in self.events:
            raise DuplicateTouchpoint
        if any(t in self.tokens for t in change.claim_tokens):
            raise StaleSubject
        if change.new_subject_key:
            self.profiles[change.subject_id] = {"status": "active", "consents": {}, "consent_version": 0, "fields": {}}
            self.keys[change.subject_id] = change.new_subject_key
        else:
            profile = self.profiles.get(change.subject_id)
            if (
                not profile
                or profile["status"] != "active"
                or profile["consent_version"] != change.expected_consent_version
            ):
                raise StaleSubject
        profile = self.profiles[change.subject_id]
        if any(not v.verified and profile["fields"].get(k, v).verified for k, v in change.fields.items()):
            raise StaleSubject  # as DynamoDB's condition: an unverified value never replaces a verified one
        profile["fields"].update(change.fields)
        if change.consents:
            profile["consents"].update(change.consents)
            profile["consent_version"] += 1
        if change.trace and change.advance_last_trace:
            profile["last_trace_at"] = max(
                profile.get("last_trace_at") or change.trace.occurred_at, change.trace.occurred_at
            )
        for token in change.claim_tokens:
            self.tokens[token] = TokenRecord(change.subject_id)
        self.events.add((change.subject_id, change.channel, change.event_id))
        self.event_keys.add((change.subject_id, change.event.sort_key))


def service(store: InMemoryStore, wrapper: CountingWrapper | None = None) -> IngestionService:
    tokenizer = Tokenizer(b"x" * 32)
    return IngestionService(store, SubjectKeyring(wrapper or CountingWrapper()), lambda: tokenizer, load_policy())


def touchpoint(
    event_id: str,
    consented: bool = True,
    channel: Channel = Channel.STORE,
    *,
    minute: int = 0,
    traced: bool = True,
    analytics: bool = False,
    **identifiers: str,
) -> Touchpoint:
    """A private channel's touchpoint by default: resolution as such, without the trust rules for public keys."""
    return Touchpoint(
        channel=channel,
        event_id=event_id,
        occurred_at=NOW + timedelta(minutes=minute),
        identifiers={IdentifierKind(k): v for k, v in identifiers.items()},
        personal_data={PersonalField.GIVEN_NAME: "Ana"},
        trace=Trace(TraceKind.VISIT, "page_view") if traced else None,
        # Without analytics, a visit is kept to the day (policies/consent.yaml)
        consents=(
            ConsentGrant("personalization", "all", consented, NOW),
            *((ConsentGrant("analytics", "all", True, NOW),) if analytics else ()),
        ),
        consent_declared=True,
    )


def ingest(svc: IngestionService, tp: Touchpoint):
    return svc.ingest(svc.prepare(tp))


def test_a_known_person_on_a_warm_container_costs_no_reads_and_no_kms_calls():
    store, wrapper = InMemoryStore(), CountingWrapper()
    svc = service(store, wrapper)
    first = ingest(svc, touchpoint("e1", analytics=True, email="ana@example.mx"))
    reads = store.reads
    second = ingest(svc, touchpoint("e2", minute=1, analytics=True, email="ana@example.mx"))
    assert second.profile_id == first.profile_id and first.new_profile and not second.new_profile
    assert store.reads == reads
    assert store.event_reads == 0
    assert (wrapper.generated, wrapper.unwrapped) == (1, 0)


def test_a_cold_container_resolves_and_unwraps_once():
    store, wrapper = InMemoryStore(), CountingWrapper()
    subject = ingest(service(store), touchpoint("e1", email="ana@example.mx")).profile_id
    cold = service(store, wrapper)
    assert ingest(cold, touchpoint("e2", email="ana@example.mx")).profile_id == subject
    assert ingest(cold, touchpoint("e3", email="ana@example.mx")).profile_id == subject
    assert wrapper.unwrapped == 1


def test_the_strongest_identifier_wins_and_foreign_tokens_stay_with_their_owner():
    store = InMemoryStore()
    svc = service(store)
    by_email = ingest(svc, touchpoint("e1", email="ana@example.mx")).profile_id
    by_rfc = ingest(svc, touchpoint("e2", rfc="QUAA800101H51")).profile_id
    mixed = ingest(svc, touchpoint("e3", email="ana@example.mx", rfc="QUAA800101H51", phone="+525512345678"))
    assert mixed.profile_id == by_rfc  # RFC outranks email
    owners = {r.subject_id for r in store.tokens.values()}
    assert owners == {by_email, by_rfc}
    phone_token = Tokenizer(b"x" * 32).token(IdentifierKind.PHONE, "+525512345678")
    assert store.tokens[phone_token].subject_id == by_rfc


def test_a_retry_is_a_duplicate_of_the_same_profile():
    svc = service(InMemoryStore())
    first = ingest(svc, touchpoint("e1", email="ana@example.mx"))
    again = ingest(svc, touchpoint("e1", email="ana@example.mx"))
    assert again.status is IngestStatus.DUPLICATE and again.profile_id == first.profile_id


def test_a_touchpoint_no_later_than_its_persons_last_trace_is_looked_for_before_it_is_written():
    """A resend was stored, so its trace is no later than its person's last: a read (half a read unit) tells it,
    not a transaction cancelled on its event item. A later touchpoint, the common case, reads nothing; an earlier
    one seen for the first time (a provider's batch, a store's nightly file) is read for, not found, and written."""
    store = InMemoryStore()
    svc = service(store)
    in_order = [touchpoint(f"e{i}", minute=i, analytics=True, email="ana@example.mx") for i in range(3)]
    assert [ingest(svc, t).status for t in in_order] == [IngestStatus.STORED] * 3
    assert (store.writes, store.event_reads) == (3, 0)

    assert ingest(svc, in_order[1]).status is IngestStatus.DUPLICATE
    assert ingest(svc, in_order[2]).status is IngestStatus.DUPLICATE  # as late as the last trace: itself
    assert (store.writes, store.event_reads) == (3, 2)

    late_first_post = touchpoint("e-late", minute=-30, analytics=True, email="ana@example.mx")
    assert ingest(svc, late_first_post).status is IngestStatus.STORED
    assert (store.writes, store.event_reads) == (4, 3)

    cold = service(store)  # another container: the last trace comes with the profile it reads
    assert ingest(cold, in_order[0]).status is IngestStatus.DUPLICATE
    assert (store.writes, store.event_reads) == (4, 4)


def test_a_request_resent_whole_is_told_by_one_cancelled_write_and_then_reads():
    """Touchpoints that keep no trace cannot be told by time: in a request resent whole (an SDK's batch after a
    timeout), the first is told `duplicate` by its write's condition, the others each by a read of the event item,
    with no write; a request with no duplicate reads nothing."""
    store = InMemoryStore()
    svc = service(store)
    batch = [touchpoint(f"e{i}", minute=i, traced=False, email="ana@example.mx") for i in range(4)]
    first = ingest_touchpoints(svc, batch)
    assert [r.status for r in first.results] == [IngestStatus.STORED] * 4
    assert (store.writes, store.event_reads) == (4, 0)

    again = ingest_touchpoints(svc, batch)

    assert [r.status for r in again.results] == [IngestStatus.DUPLICATE] * 4
    assert (store.writes, store.event_reads) == (5, 3)
    later = touchpoint("e9", minute=9, traced=False, email="ana@example.mx")
    mixed = ingest_touchpoints(svc, [batch[0], later])
    assert [r.status for r in mixed.results] == [IngestStatus.DUPLICATE, IngestStatus.STORED]
    assert (store.writes, store.event_reads) == (7, 4)  # the new one: looked for, not found, written


class EventReadsFail(InMemoryStore):
    def has_event(self, subject_id: str, sort_key: str) -> bool:
        raise StorageUnavailable("the profile store is unavailable")


def test_when_the_resend_read_fails_the_write_still_tells_a_resend():
    store = EventReadsFail()
    svc = service(store)
    batch = [touchpoint(f"e{i}", minute=i, email="ana@example.mx") for i in range(3)]
    ingest_touchpoints(svc, batch)
    again = ingest_touchpoints(svc, batch)
    assert [r.status for r in again.results] == [IngestStatus.DUPLICATE] * 3
    assert store.writes == 6


def test_a_stale_cache_is_refreshed_and_the_write_retried():
    store = InMemoryStore()
    svc = service(store)
    ingest(svc, touchpoint("e1", email="ana@example.mx"))
    store.stale_next = 2
    assert ingest(svc, touchpoint("e2", email="ana@example.mx")).status is IngestStatus.STORED
    store.stale_next = 10
    with pytest.raises(ConcurrentUpdate):
        ingest(svc, touchpoint("e3", email="ana@example.mx"))


def test_a_suppressed_identifier_or_erased_profile_is_refused():
    store = InMemoryStore()
    svc = service(store)
    subject = ingest(svc, touchpoint("e1", email="ana@example.mx")).profile_id
    store.profiles[subject]["status"] = "erasing"
    with pytest.raises(SubjectErased):
        ingest(svc, touchpoint("e2", email="ana@example.mx"))  # warm cache: the write condition catches it
    token = Tokenizer(b"x" * 32).token(IdentifierKind.EMAIL, "bea@example.mx")
    store.tokens[token] = TokenRecord(None, suppressed=True)
    with pytest.raises(SubjectErased):
        ingest(svc, touchpoint("e3", email="bea@example.mx"))
    assert not any(e[2] in ("e2", "e3") for e in store.events)
