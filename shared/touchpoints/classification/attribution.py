"""Program attribution (issue 25): which program and campaign a state move is credited to, and the programs report.

Pure. A move is credited to the program and campaign of the touchpoint that caused it (funnel.Cause), and, when it
goes to a more complete state, to each program and campaign that contacted the person within the attribution window
before it (policies/attribution.yaml), on the channel of the latest such contact: last touch per campaign, so a
campaign's moves by channel add up to its moves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from touchpoints.classification.rules import Dimension, State
from touchpoints.items import counter as counter_item
from touchpoints.policies import parse_yaml, policy_text


class AttributionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    attribution_days: int = Field(ge=0, le=366)


def parse_attribution_policy(text: str) -> AttributionPolicy:
    return AttributionPolicy.model_validate(parse_yaml(text))


@lru_cache(maxsize=1)
def load_attribution_policy() -> AttributionPolicy:
    """The policy shipped in the layer (policies/attribution.yaml); an invalid one fails the cold start."""
    return parse_attribution_policy(policy_text("attribution.yaml"))


def _dimensions(state: str) -> frozenset[Dimension] | None:
    if state == counter_item.NONE:
        return frozenset()
    try:
        return State(state).dimensions
    except ValueError:
        return None  # `gone`, or a letter of no state


def more_complete(from_state: str, to_state: str) -> bool:
    """The new state holds every dimension the old one held, and more (a new profile held none)."""
    before, after = _dimensions(from_state), _dimensions(to_state)
    return before is not None and after is not None and before < after


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact the person was sent, as its history keeps it: no address, no content."""

    at: datetime
    channel: str
    program: str | None
    campaign_id: str | None


@dataclass(frozen=True, slots=True)
class ContactCredit:
    """A program and campaign that contacted the person before a move, and the channel of its latest contact."""

    program: str
    campaign_id: str | None
    channel: str


def credited(contacts: Iterable[Contact], moved_at: datetime, days: int) -> tuple[ContactCredit, ...]:
    """The programs and campaigns a move at `moved_at` is credited to: those that contacted the person at most `days`
    days before it, each on the channel of its latest contact. A contact that names no program credits none."""
    since = moved_at - timedelta(days=days)
    latest: dict[tuple[str, str | None], Contact] = {}
    for contact in contacts:
        if contact.program is None or not since <= contact.at <= moved_at:
            continue
        key = (contact.program, contact.campaign_id or None)
        if key not in latest or contact.at > latest[key].at:
            latest[key] = contact
    return tuple(
        ContactCredit(program, campaign, latest[(program, campaign)].channel)
        for program, campaign in sorted(latest, key=lambda k: (k[0], k[1] or ""))
    )


ProgramKey = tuple[str, str | None]  # (program, campaign id or None)


@dataclass(frozen=True, slots=True)
class ProgramsReport:
    """Per program and campaign: audience pulled, contacts sent, and the moves credited to it. Counts only."""

    start: date
    end: date
    generated_at: datetime
    attribution_days: int
    # (day, from, to, channel, action, program, campaign or None) -> moves of touchpoints that named the program
    moves: Mapping[tuple[date, str, str, str, str, str, str | None], int]
    # (day, program, campaign or None, contact channel, from, to) -> moves within the window of a contact
    after_contact: Mapping[tuple[date, str, str | None, str, str, str], int]
    contacts_sent: Mapping[tuple[str, str | None, str], int]  # (program, campaign, channel) -> contacts sent
    audience_pulled: Mapping[ProgramKey, int]  # (program, campaign) -> people pulled into its audiences

    def as_dict(self) -> dict[str, Any]:
        keys: set[ProgramKey] = set(self.audience_pulled)
        keys |= {(program, campaign) for program, campaign, _ in self.contacts_sent}
        moves: dict[ProgramKey, dict[tuple[str, str, str], int]] = defaultdict(lambda: defaultdict(int))
        for (_, from_state, to_state, channel, _, program, campaign), n in self.moves.items():
            if n and more_complete(from_state, to_state):
                moves[(program, campaign)][(from_state, to_state, channel)] += n
        after: dict[ProgramKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for (_, program, campaign, channel, _, _), n in self.after_contact.items():
            if n:
                after[(program, campaign)][channel] += n
        keys |= set(moves) | set(after)
        programs = []
        for program, campaign in sorted(keys, key=lambda k: (k[0], k[1] or "")):
            sent = {
                channel: n
                for (p, c, channel), n in sorted(self.contacts_sent.items())
                if (p, c) == (program, campaign) and n
            }
            credited_moves = moves.get((program, campaign), {})
            by_contact = dict(sorted(after.get((program, campaign), {}).items()))
            programs.append(
                {
                    "program": program,
                    "campaign_id": campaign,
                    "audience_pulled": self.audience_pulled.get((program, campaign), 0),
                    "contacts_sent": sum(sent.values()),
                    "contacts_by_channel": sent,
                    "moved": sum(credited_moves.values()),
                    "moves": [
                        {"from": f, "to": t, "channel": channel, "count": n}
                        for (f, t, channel), n in sorted(credited_moves.items())
                    ],
                    "moved_after_contact": sum(by_contact.values()),
                    "moved_after_contact_by_channel": by_contact,
                }
            )
        return {
            "generated_at": self.generated_at.isoformat(),
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "attribution_days": self.attribution_days,
            "programs": programs,
        }
