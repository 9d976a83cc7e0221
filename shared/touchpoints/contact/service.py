"""Contact decisions for a person or a campaign audience, reservations, and recorded contacts.

Storage is reached through the ContactStore port (touchpoints.adapters.contact_store): batched
reads of tokens, profiles and counters; one conditional write per reservation or contact.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from touchpoints.classification.rules import load_rules
from touchpoints.contact.decide import (
    ContactEntry,
    ContactHistory,
    Decision,
    DecisionRequest,
    PersonFacts,
    PersonStatus,
    Reason,
    ReservationState,
    decide,
    new_reservation_id,
)
from touchpoints.contact.policy import ContactPolicy
from touchpoints.contact.pressure import ContactTally
from touchpoints.errors import ConcurrentUpdate, FieldProblem, InvalidTouchpoint
from touchpoints.identity.subject import TokenRecord
from touchpoints.ingestion import SealedItem
from touchpoints.items import event as event_item
from touchpoints.model import RESOLUTION_PRIORITY, IdentifierKind
from touchpoints.privacy.cipher import SubjectCipher
from touchpoints.privacy.keyring import SubjectKeyring
from touchpoints.privacy.tokenizer import Tokenizer
from touchpoints.trust import TrustPolicy

_WRITE_ATTEMPTS = 24
_WRITE_CONCURRENCY = 16
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A contact a channel sent: what kind, why and for which campaign. Never its content or address."""

    event_id: str
    occurred_at: datetime
    kind: str
    purpose: str
    campaign_id: str
    reservation_id: str = ""
    program: str | None = None  # a program of classification.yaml, when the channel names the one it serves


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person named by profile id or by identifiers (never both needed)."""

    profile_id: str | None = None
    identifiers: Mapping[IdentifierKind, str] = field(default_factory=dict)
    time_zone: str | None = None


class RecordOutcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"  # the counter moved since it was read: read again
    SUPPRESSED = "suppressed"  # the profile is being erased, or gone


class ContactStore(Protocol):
    def find_tokens(self, tokens: Collection[str]) -> dict[str, TokenRecord]: ...

    def load_people(self, subject_ids: Collection[str], contact_fields: Collection[str]) -> dict[str, PersonFacts]:
        """Batched. No profile, or one not active, is SUPPRESSED: profiles are deleted only by erasure."""
        ...

    def save_history(self, subject_id: str, expected_revision: int, history: ContactHistory, now: datetime) -> bool:
        """Write the counter whole if its revision is still `expected_revision`; False if it is not."""
        ...

    def wrapped_key(self, subject_id: str) -> bytes | None:
        """The subject's wrapped data key while its profile is active; None once it is being erased or gone."""
        ...

    def record(
        self,
        subject_id: str,
        event: SealedItem,
        expires_at: int,
        expected_revision: int,
        history: ContactHistory,
        now: datetime,
    ) -> RecordOutcome:
        """The contact's sealed event item and the counter, in one transaction, while the profile is active."""
        ...

    def count_cap_hits(self, day: str, hits: Mapping[tuple[str, str], int]) -> None: ...

    def count_contacts(self, tally: ContactTally) -> None:
        """Apply a request's sums to the pressure and contacts-sent counters, each item once, exactly once."""
        ...


@dataclass(frozen=True, slots=True)
class PersonDecision:
    index: int
    decision: Decision
    profile_id: str | None = None  # only when the request named the person by profile id
    reservation: ContactEntry | None = None

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"index": self.index, "allowed": self.decision.allowed}
        if self.profile_id is not None:
            answer["profile_id"] = self.profile_id
        if self.decision.reason is not None:
            answer["reason"] = self.decision.reason.value
            at = self.decision.allowed_at
            answer["allowed_at"] = at.isoformat() if at is not None else None
            if (if_used := self.decision.allowed_at_if_reservations_used) is not None:
                answer["allowed_at_because"] = "live_reservations_expire_unused"
                answer["allowed_at_if_reservations_used"] = if_used.isoformat()
        if self.reservation is not None:
            answer["reservation_id"] = self.reservation.reservation_id
            assert self.reservation.expires_at is not None
            answer["reservation_expires_at"] = self.reservation.expires_at.isoformat()
        return answer


@dataclass(frozen=True, slots=True)
class RecordResult:
    event_id: str
    status: str  # stored, duplicate, unknown_person (nobody holds the identifiers: nothing stored)
    reservation: ReservationState | None = None  # a stored contact whose reservation did not hold: why

    def as_dict(self) -> dict[str, str]:
        answer = {"event_id": self.event_id, "status": self.status}
        if self.reservation is not None:
            answer["reservation"] = self.reservation.value
        return answer


@dataclass(frozen=True, slots=True)
class RecordBatch:
    results: tuple[RecordResult, ...]
    refused: tuple[str, ...] = ()  # event ids naming an erased person


class ContactService:
    """Answers whether each person may be contacted, reserves what it allows, and counts what was sent."""

    def __init__(
        self,
        store: ContactStore,
        tokenizer: Callable[[], Tokenizer],
        policy: ContactPolicy,
        channel_fields: Mapping[str, tuple[str, ...]],
        trust: TrustPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        keyring: SubjectKeyring,
        programs: Collection[str] | None = None,
    ) -> None:
        self._programs = frozenset(programs) if programs is not None else None
        self._store = store
        self._keyring = keyring
        self._tokenizer = tokenizer
        self._policy = policy
        self._fields = channel_fields
        self._trust = trust
        self._clock = clock

    def check(self, channel: str, purpose: str, kind: str | None = None, program: str | None = None) -> None:
        """Refuse (422) a purpose, contact kind or program the policies do not know on this channel."""
        problems = []
        if purpose not in self._policy.purposes:
            problems.append(FieldProblem(("purpose",), "unknown_purpose", "purpose is not in the contact policy"))
        if kind is not None and kind not in self._policy.channels.get(channel, ()):  # type: ignore[call-overload]
            problems.append(FieldProblem(("kind",), "unknown_contact_kind", "this channel does not send this kind"))
        if program is not None and program not in self._known_programs():
            problems.append(FieldProblem(("program",), "unknown_program", "program is not in classification.yaml"))
        if problems:
            raise InvalidTouchpoint("the contact policy does not allow this request", problems)

    def _known_programs(self) -> frozenset[str]:
        if self._programs is None:
            self._programs = frozenset(load_rules().programs)
        return self._programs

    def decide(self, request: DecisionRequest, recipients: Sequence[Recipient], reserve: bool) -> list[PersonDecision]:
        """One decision per recipient, in order. With `reserve`, every allowed contact is counted before answering."""
        self.check(request.channel, request.purpose)
        now = self._clock()
        subjects, statuses = self._resolve(recipients)
        fields = self._fields.get(request.channel, ())
        people = self._store.load_people({s for s in subjects if s}, fields)

        def facts(index: int) -> PersonFacts:
            subject = subjects[index]
            if subject is None:
                return PersonFacts(statuses[index])
            return people.get(subject) or PersonFacts(PersonStatus.SUPPRESSED)

        answers: list[PersonDecision] = []
        for index, recipient in enumerate(recipients):
            decision = decide(facts(index), self._for(request, recipient), now, self._policy, self._fields)
            answers.append(PersonDecision(index, decision, recipient.profile_id))
        if reserve:
            answers = self._reserve(request, recipients, subjects, people, answers, now)
            hits = Counter(
                (request.channel, request.campaign_id) for a in answers if a.decision.reason is Reason.FREQUENCY_CAP
            )
            if hits:
                self._store.count_cap_hits(now.date().isoformat(), hits)
        return answers

    def record(self, channel: str, contacts: Sequence[tuple[Recipient, ContactRecord]]) -> RecordBatch:
        """Count each contact sent on its person's counter (its reservation, if named, becomes the contact)."""
        for position, (_, contact) in enumerate(contacts):
            try:
                self.check(channel, contact.purpose, contact.kind, contact.program)
            except InvalidTouchpoint as error:
                problems = [FieldProblem(("contacts", position, *p.loc), p.code, p.message) for p in error.problems]
                raise InvalidTouchpoint(error.message, problems) from None
        subjects, statuses = self._resolve([r for r, _ in contacts])
        results: list[RecordResult] = []
        refused: list[str] = []
        tally = ContactTally(self._clock().astimezone(UTC).date())
        try:
            for (_, contact), subject, status in zip(contacts, subjects, statuses, strict=True):
                if subject is None:
                    if status is PersonStatus.SUPPRESSED:
                        refused.append(contact.event_id)
                    else:
                        results.append(RecordResult(contact.event_id, "unknown_person"))
                    continue
                outcome, reservation = self._record_one(subject, channel, contact, tally)
                if outcome is RecordOutcome.SUPPRESSED:
                    refused.append(contact.event_id)
                else:
                    results.append(RecordResult(contact.event_id, outcome.value, reservation))
        finally:
            # Even when a later contact fails the request: the ones stored are counted now, since a retry of the
            # request finds them duplicates and counts nothing.
            if not tally.empty:
                self._store.count_contacts(tally)
        return RecordBatch(tuple(results), tuple(refused))

    def _for(self, request: DecisionRequest, recipient: Recipient) -> DecisionRequest:
        if recipient.time_zone is None:
            return request
        return DecisionRequest(request.channel, request.purpose, request.campaign_id, recipient.time_zone)

    def _resolve(self, recipients: Sequence[Recipient]) -> tuple[list[str | None], list[PersonStatus]]:
        """Each recipient's subject id (None: not found, with why), with one batched read of every token."""
        tokenizer = self._tokenizer()
        own: list[dict[IdentifierKind, str]] = []
        every: list[set[str]] = []
        for recipient in recipients:
            tokens = {kind: tokenizer.token(kind, value) for kind, value in recipient.identifiers.items()}
            same_value = {
                token
                for kind, value in recipient.identifiers.items()
                for token in self._trust.value_tokens(tokenizer, kind, value)
            }
            own.append(tokens)
            every.append(same_value | set(tokens.values()))
        found = self._store.find_tokens({t for tokens in every for t in tokens}) if any(every) else {}
        subjects: list[str | None] = []
        statuses: list[PersonStatus] = []
        for recipient, tokens, all_tokens in zip(recipients, own, every, strict=True):
            if recipient.profile_id is not None:
                subjects.append(recipient.profile_id)
                statuses.append(PersonStatus.ACTIVE)
                continue
            if any(found[t].suppressed for t in all_tokens if t in found):
                subjects.append(None)
                statuses.append(PersonStatus.SUPPRESSED)
                continue
            owner = next(
                (
                    found[tokens[k]].subject_id
                    for k in RESOLUTION_PRIORITY
                    if k in tokens and tokens[k] in found and found[tokens[k]].subject_id
                ),
                None,
            )
            subjects.append(owner)
            statuses.append(PersonStatus.ACTIVE if owner else PersonStatus.UNKNOWN)
        return subjects, statuses

    def _reserve(
        self,
        request: DecisionRequest,
        recipients: Sequence[Recipient],
        subjects: list[str | None],
        people: Mapping[str, PersonFacts],
        answers: list[PersonDecision],
        now: datetime,
    ) -> list[PersonDecision]:
        """Count each allowed contact with a conditional write; a write that lost a race reads and decides again."""
        exempt = self._policy.purposes[request.purpose].exempt

        def reserve_one(answer: PersonDecision) -> PersonDecision:
            subject = subjects[answer.index]
            if not answer.decision.allowed or subject is None or exempt:
                return answer  # exempt purposes are not counted: nothing to reserve
            person_request = self._for(request, recipients[answer.index])
            person = people[subject]
            for attempt in range(_WRITE_ATTEMPTS):
                if attempt:
                    time.sleep(random.random() * 0.01 * min(attempt, 8))  # noqa: S311 - jitter, not security
                    person = self._store.load_people([subject], self._fields.get(request.channel, ())).get(
                        subject, PersonFacts(PersonStatus.SUPPRESSED)
                    )
                decision = decide(person, person_request, now, self._policy, self._fields)
                if not decision.allowed:
                    return PersonDecision(answer.index, decision, answer.profile_id)
                expires_at = now + self._policy.reservation_time
                entry = ContactEntry(
                    at=now,
                    channel=request.channel,
                    purpose=request.purpose,
                    campaign_id=request.campaign_id,
                    reservation_id=new_reservation_id(expires_at),
                    expires_at=expires_at,
                )
                history = person.history.pruned(now, self._policy.history).with_reservation(entry)
                if self._store.save_history(subject, person.history.revision, history, now):
                    return PersonDecision(answer.index, decision, answer.profile_id, entry)
            raise ConcurrentUpdate("this person's contacts kept changing under the reservation; retry")

        with ThreadPoolExecutor(max_workers=_WRITE_CONCURRENCY) as pool:
            return list(pool.map(reserve_one, answers))

    def _record_one(
        self, subject: str, channel: str, contact: ContactRecord, tally: ContactTally
    ) -> tuple[RecordOutcome, ReservationState | None]:
        """Store one contact; a stored one's counts join the request's tally, from the history its write held on."""
        now = self._clock()
        entry = ContactEntry(
            at=contact.occurred_at.astimezone(UTC),
            channel=channel,
            purpose=contact.purpose,
            campaign_id=contact.campaign_id,
            kind=contact.kind,
            program=contact.program or "",
        )
        retention_end = contact.occurred_at + timedelta(days=self._policy.contact_retention_days)
        expires_at = int(retention_end.timestamp()) // _DAY * _DAY  # rounded down as every event's TTL is
        wrapped = self._store.wrapped_key(subject)
        if wrapped is None:
            return RecordOutcome.SUPPRESSED, None
        event = sealed_contact_event(self._keyring.cipher_from_wrapped(subject, wrapped), channel, contact, now)
        for attempt in range(_WRITE_ATTEMPTS):
            if attempt:
                time.sleep(random.random() * 0.01 * min(attempt, 8))  # noqa: S311 - jitter, not security
            person = self._store.load_people([subject], ()).get(subject)
            if person is None or person.status is not PersonStatus.ACTIVE:
                return RecordOutcome.SUPPRESSED, None
            history = person.history.pruned(now, self._policy.history).with_contact(entry, contact.reservation_id)
            outcome = self._store.record(subject, event, expires_at, person.history.revision, history, now)
            if outcome is RecordOutcome.STORED:
                tally.add(person.history.sent, entry)
                if not contact.reservation_id:
                    return outcome, None
                state = person.history.reservation_state(contact.reservation_id, now)
                return outcome, None if state is ReservationState.USED else state
            if outcome is not RecordOutcome.CONFLICT:
                return outcome, None
        raise ConcurrentUpdate("this person's contacts kept changing under the contact; retry")


def sealed_contact_event(cipher: SubjectCipher, channel: str, contact: ContactRecord, now: datetime) -> SealedItem:
    """The contact's event item content, sealed under the subject's key like every touchpoint's (issue 17)."""
    sk = event_item.sort_key(cipher, channel, contact.event_id)
    metadata = {
        event_item.CHANNEL: channel,
        event_item.EVENT_ID: contact.event_id,
        event_item.RECEIVED_AT: now.isoformat(),
        event_item.TRACE: "none",
        event_item.ACTION: f"sent_{contact.kind}",
        event_item.OCCURRED_AT: contact.occurred_at.isoformat(),
        event_item.MINIMIZED: False,
        event_item.CONTACT_KIND: contact.kind,
        event_item.PURPOSE: contact.purpose,
        event_item.CAMPAIGN_ID: contact.campaign_id,
    }
    return SealedItem(sk, event_item.seal(cipher, sk, metadata))
