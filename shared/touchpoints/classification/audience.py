"""Audiences per program (issue 25): who a program is recommended for, and on which channel and purpose they may
be reached; and the paged read of one audience.

The classifier keeps one membership per (person, recommended program) while the person is reachable somewhere
(items/audience.py); it writes them only when the membership changes, which it tells from the summary it stores on
the profile in the classification's own write (`encode`). Reachability is what contact decisions decide
(touchpoints.contact.decide) before caps and quiet hours, which only time lifts: a decision for the same person,
channel and purpose refuses for consent or a missing contact field exactly when the membership leaves them out.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from touchpoints.classification.rules import load_rules
from touchpoints.consent import ConsentRecord
from touchpoints.errors import FieldProblem, InvalidTouchpoint
from touchpoints.items import audience as audience_item

if TYPE_CHECKING:
    from touchpoints.contact.policy import ContactPolicy

Membership = Mapping[str, frozenset[str]]  # program -> the <channel>:<purpose> the person may be reached on
Positions = tuple[str | None, ...]  # per shard: "" not read yet, a subject id to go on after, None done

MAX_PAGE = 1000  # a page's ids: what one contact-decisions request takes
# The reasons that leave a person out of an audience. Frequency caps and quiet hours are lifted by time and
# decided when the campaign asks; a purpose closed on a channel (a cap of 0) never opens.
_UNREACHABLE = frozenset({"suppressed", "no_consent", "not_contactable_on_channel", "frequency_cap"})
_PROGRAMS, _PURPOSES = ";", ","
_CURSOR_VERSION = 1
_SUBJECT_ID = re.compile(r"^sub_[0-9a-f]{32}$")


@dataclass(frozen=True)
class AudienceRules:
    """What membership is decided from: the programs (classification.yaml) and the contact policy."""

    programs: frozenset[str]
    contact: ContactPolicy
    channel_fields: Mapping[str, tuple[str, ...]]

    @classmethod
    def load(cls) -> AudienceRules:
        # Imported here: touchpoints.contact.policy reads the classification rules, so importing it with this module
        # would import the classification package from inside its own import.
        from touchpoints.contact.policy import contact_fields, load_contact_policy

        rules = load_rules()
        return cls(frozenset(rules.programs), load_contact_policy(), contact_fields(rules))

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(sorted(c.value for c in self.contact.channels))

    @property
    def purposes(self) -> tuple[str, ...]:
        return tuple(sorted(self.contact.purposes))

    def reach(
        self, consents: Mapping[str, ConsentRecord], fields_held: frozenset[str], now: datetime
    ) -> frozenset[str]:
        """Every `<channel>:<purpose>` on which contact decisions would not refuse this person for good."""
        from touchpoints.contact.decide import DecisionRequest, PersonFacts, PersonStatus, decide

        person = PersonFacts(PersonStatus.ACTIVE, consents, fields_held)
        return frozenset(
            audience_item.reach_value(channel, purpose)
            for channel in self.channels
            for purpose in self.purposes
            if decide(person, DecisionRequest(channel, purpose, ""), now, self.contact, self.channel_fields).reason
            not in _UNREACHABLE
        )

    def membership(
        self,
        recommendations: Sequence[str],
        consents: Mapping[str, ConsentRecord],
        fields_held: frozenset[str],
        now: datetime,
    ) -> dict[str, frozenset[str]]:
        """The audiences a classified person belongs to: each recommended program, if reachable anywhere."""
        if not recommendations:
            return {}
        reach = self.reach(consents, fields_held, now)
        return {program: reach for program in recommendations} if reach else {}


def encode(membership: Membership) -> str:
    """The summary of a membership kept on the profile ("" for none): the classifier compares it to tell a change."""
    return _PROGRAMS.join(
        f"{program}={_PURPOSES.join(sorted(reach))}" for program, reach in sorted(membership.items()) if reach
    )


def decode(summary: str | None) -> dict[str, frozenset[str]]:
    membership: dict[str, frozenset[str]] = {}
    for part in (summary or "").split(_PROGRAMS):
        program, _, reach = part.partition("=")
        if program and reach:
            membership[program] = frozenset(reach.split(_PURPOSES))
    return membership


class AudienceMembership(Protocol):
    def sync(self, subject_id: str, membership: Membership) -> None:
        """Make the person's membership items exactly these (puts and deletes of what differs; idempotent).
        Raises StorageUnavailable."""
        ...


@dataclass(frozen=True)
class Audiences:
    """What the classifier needs to keep the audiences: the rules and where memberships are written."""

    rules: AudienceRules
    store: AudienceMembership


# ----------------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True, slots=True)
class AudienceQuery:
    program: str
    channel: str
    purpose: str

    @property
    def reach(self) -> str:
        return audience_item.reach_value(self.channel, self.purpose)


class AudienceReader(Protocol):
    def members(self, query: AudienceQuery, positions: Positions, per_shard: int) -> tuple[list[str], Positions]:
        """Up to `per_shard` index entries of each shard not done, from its position (one Query each): the ids
        reachable as asked, and the new positions. Raises StorageUnavailable."""
        ...

    def record_pull(self, day: date, program: str, campaign_id: str, profiles: int) -> None:
        """Add `profiles` to the ids pulled for (program, campaign) that day. Raises StorageUnavailable."""
        ...


def _refused(name: str, code: str, message: str) -> InvalidTouchpoint:
    return InvalidTouchpoint("the audience cannot be read as asked", [FieldProblem(("query", name), code, message)])


def audience_query(rules: AudienceRules, program: str, channel: str, purpose: str) -> AudienceQuery:
    """The query, once each of its names is one the policies know (422 with the field's code otherwise)."""
    if program not in rules.programs:
        raise _refused("program", "unknown_program", f"one of {', '.join(sorted(rules.programs))}")
    if channel not in rules.channels:
        raise _refused("channel", "unknown_channel", f"a sending channel: {', '.join(rules.channels)}")
    if purpose not in rules.purposes:
        raise _refused("purpose", "unknown_purpose", f"a purpose of contact.yaml: {', '.join(rules.purposes)}")
    return AudienceQuery(program, channel, purpose)


def encode_cursor(query: AudienceQuery, positions: Positions) -> str | None:
    """Opaque: where each shard stands, bound to the query it was given for. None once every shard is done."""
    if all(position is None for position in positions):
        return None
    body = {"v": _CURSOR_VERSION, "q": [query.program, query.channel, query.purpose], "s": list(positions)}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(query: AudienceQuery, cursor: str | None) -> Positions:
    if not cursor:
        return ("",) * audience_item.SHARDS
    bad = _refused("cursor", "bad_cursor", "give back the next_cursor of the same program, channel and purpose")
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise bad from None
    if not isinstance(body, dict) or body.get("v") != _CURSOR_VERSION:
        raise bad
    if body.get("q") != [query.program, query.channel, query.purpose]:
        raise bad
    positions = body.get("s")
    if not isinstance(positions, list) or len(positions) != audience_item.SHARDS:
        raise bad
    for position in positions:
        if position is not None and position != "" and not (isinstance(position, str) and _SUBJECT_ID.match(position)):
            raise bad
    return tuple(positions)


@dataclass(frozen=True, slots=True)
class AudiencePage:
    query: AudienceQuery
    profile_ids: tuple[str, ...]
    next_cursor: str | None
    generated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "program": self.query.program,
            "channel": self.query.channel,
            "purpose": self.query.purpose,
            "generated_at": self.generated_at.isoformat(),
            "count": len(self.profile_ids),
            "profile_ids": list(self.profile_ids),
            "next_cursor": self.next_cursor,
        }


def audience_page(
    reader: AudienceReader,
    query: AudienceQuery,
    cursor: str | None,
    limit: int = MAX_PAGE,
    campaign_id: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AudiencePage:
    """One page: at most `limit` ids (rounded down to a multiple of the shards), one Query per shard not done, whatever
    the audience's size. A page may hold
    fewer (even none) while `next_cursor` is set: the entries read were not reachable as asked. With a campaign id,
    the ids served are added to that campaign's pulled count of the day."""
    positions = decode_cursor(query, cursor)
    ids, after = reader.members(query, positions, max(1, min(limit, MAX_PAGE) // audience_item.SHARDS))
    now = clock()
    if campaign_id and ids:
        reader.record_pull(now.date(), query.program, campaign_id, len(ids))
    return AudiencePage(query, tuple(ids), encode_cursor(query, after), now)
