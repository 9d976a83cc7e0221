"""decide(person, request, now): may this person be contacted now, and if not, why and from when.

Pure: reads what the store loaded (status, consents, which contact fields are held, the contact
history) and the policy; no personal value, no AWS.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from touchpoints.consent import ConsentRecord, is_allowed
from touchpoints.contact.policy import ContactPolicy, Limit, QuietHours

_MAX_ROUNDS = 16
_RESERVATION_PREFIX = "rsv_"
_EXPIRY_DIGITS = 8  # hex digits of a reservation id that carry its expiry (epoch seconds)


class Reason(StrEnum):
    NO_CONSENT = "no_consent"
    SUPPRESSED = "suppressed"
    NOT_CONTACTABLE_ON_CHANNEL = "not_contactable_on_channel"
    FREQUENCY_CAP = "frequency_cap"
    QUIET_HOURS = "quiet_hours"


class ReservationState(StrEnum):
    USED = "used"  # it was live: it became the contact recorded
    EXPIRED = "expired"  # its time had passed (unused, or used by another contact): nothing held this one's place
    UNKNOWN = "unknown"  # not issued to this person, or used already by another contact


def new_reservation_id(expires_at: datetime) -> str:
    """rsv_ + its expiry (8 hex digits of epoch seconds) + 24 random hex digits: a late contact can be told it
    expired after the history has dropped it."""
    return f"{_RESERVATION_PREFIX}{int(expires_at.timestamp()):0{_EXPIRY_DIGITS}x}{secrets.token_hex(12)}"


def reservation_expiry(reservation_id: str) -> datetime | None:
    digits = reservation_id.removeprefix(_RESERVATION_PREFIX)[:_EXPIRY_DIGITS]
    try:
        return datetime.fromtimestamp(int(digits, 16), UTC)
    except ValueError:
        return None


class PersonStatus(StrEnum):
    ACTIVE = "active"
    SUPPRESSED = "suppressed"  # erased, or being erased
    UNKNOWN = "unknown"  # no profile holds the identifiers: we hold no consent for them


@dataclass(frozen=True, slots=True)
class ContactEntry:
    """One contact sent, or one reserved (`reservation_id` and `expires_at` set). No content, no address."""

    at: datetime
    channel: str
    purpose: str
    campaign_id: str
    kind: str = ""
    reservation_id: str = ""
    expires_at: datetime | None = None
    program: str = ""  # sent entries: the program of classification.yaml the contact was for, if named

    @property
    def reserved(self) -> bool:
        return bool(self.reservation_id)

    def counts_until(self, window: timedelta) -> datetime:
        """When this entry stops counting against a cap of this window."""
        ends = self.at + window
        return min(ends, self.expires_at) if self.expires_at is not None else ends


@dataclass(frozen=True, slots=True)
class ContactHistory:
    """A person's counter item: recent contacts and live reservations, and its revision (the write's condition)."""

    revision: int = 0
    sent: tuple[ContactEntry, ...] = ()
    reservations: tuple[ContactEntry, ...] = ()

    def entries(self) -> tuple[ContactEntry, ...]:
        return (*self.sent, *self.reservations)

    def pruned(self, now: datetime, keep: timedelta) -> ContactHistory:
        """Without contacts older than `keep` and reservations expired by `now`."""
        return replace(
            self,
            sent=tuple(e for e in self.sent if e.at > now - keep),
            reservations=tuple(e for e in self.reservations if e.expires_at is None or e.expires_at > now),
        )

    def reservation_state(self, reservation_id: str, now: datetime) -> ReservationState:
        """What a recorded contact's reservation is on this history: live (so used now), expired, or unknown.

        An expired reservation leaves the history on its next write, so one not found is told by the expiry its id
        carries: past, it expired (or another contact used it before); to come, it was never this person's."""
        for entry in self.reservations:
            if entry.reservation_id == reservation_id:
                live = entry.expires_at is None or entry.expires_at > now
                return ReservationState.USED if live else ReservationState.EXPIRED
        expiry = reservation_expiry(reservation_id)
        return ReservationState.EXPIRED if expiry is not None and expiry <= now else ReservationState.UNKNOWN

    def live_reservations_used(self, now: datetime) -> ContactHistory:
        """This history as it would be if every live reservation were recorded as a contact (none expires)."""
        used = tuple(replace(e, expires_at=None) for e in self.reservations if e.expires_at and e.expires_at > now)
        return replace(self, sent=(*self.sent, *used), reservations=())

    def with_reservation(self, entry: ContactEntry) -> ContactHistory:
        return replace(self, reservations=(*self.reservations, entry))

    def with_contact(self, entry: ContactEntry, reservation_id: str = "") -> ContactHistory:
        """The contact sent; the reservation it names (if still held) becomes this contact."""
        kept = tuple(r for r in self.reservations if not reservation_id or r.reservation_id != reservation_id)
        return replace(self, sent=(*self.sent, entry), reservations=kept)

    def merged_with(self, absorbed: ContactHistory) -> ContactHistory:
        """The survivor's history after a merge: both people's contacts and reservations, each once (they are two
        people's until the merge, so none is the other's), oldest first; the survivor's revision is kept."""
        return replace(
            self,
            sent=tuple(sorted((*self.sent, *absorbed.sent), key=lambda e: e.at)),
            reservations=tuple(sorted((*self.reservations, *absorbed.reservations), key=lambda e: e.at)),
        )


@dataclass(frozen=True, slots=True)
class PersonFacts:
    status: PersonStatus
    consents: Mapping[str, ConsentRecord] = field(default_factory=dict)
    contact_fields: frozenset[str] = frozenset()  # names of the contact fields the profile holds
    history: ContactHistory = field(default_factory=ContactHistory)


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    channel: str
    purpose: str
    campaign_id: str
    time_zone: str | None = None  # the recipient's; None: the policy's default


@dataclass(frozen=True, slots=True)
class Decision:
    reason: Reason | None  # None: allowed now
    allowed_at: datetime | None = None  # when it will be allowed, if time alone will allow it
    # Set when `allowed_at` holds only if the person's live reservations expire unused: when it is allowed if
    # they are all recorded as contacts instead.
    allowed_at_if_reservations_used: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.reason is None


def _counted(entries: Iterable[ContactEntry], purpose: str, channel: str | None) -> list[ContactEntry]:
    return [e for e in entries if e.purpose == purpose and (channel is None or e.channel == channel)]


def _limits(policy: ContactPolicy, request: DecisionRequest) -> list[tuple[Limit, str | None]]:
    rule = policy.purposes[request.purpose]
    per_channel = rule.channel_limits.get(request.channel, ())  # type: ignore[call-overload]
    return [(limit, None) for limit in rule.limits] + [(limit, request.channel) for limit in per_channel]


def cap_free_at(
    entries: tuple[ContactEntry, ...], policy: ContactPolicy, request: DecisionRequest, now: datetime
) -> datetime:
    """The first moment from `now` at which one more contact stays within every cap (`now` if it already does).

    An entry counts for a cap of window W while `at` is within W of the moment and, for a reservation, until it
    expires; as time passes entries only stop counting, so the answer is found by moving to the moments they do.
    """
    moment = now
    for _ in range(_MAX_ROUNDS):
        later = moment
        for limit, channel in _limits(policy, request):
            # An entry stamped after `moment` (another container's clock) counts too: it is no less a contact.
            ends = (e.counts_until(limit.window) for e in _counted(entries, request.purpose, channel))
            live = sorted(end for end in ends if end > moment)
            if len(live) >= limit.max:
                later = max(later, live[len(live) - limit.max])
        if later == moment:
            return moment
        moment = later
    return moment


def quiet_until(moment: datetime, quiet: QuietHours, zone: ZoneInfo) -> datetime:
    """`moment` if outside quiet hours in `zone`, else the end of the quiet hours it falls in."""
    local = moment.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    crosses_midnight = quiet.start > quiet.end
    if crosses_midnight:
        inside = clock >= quiet.start or clock < quiet.end
        end_day = local.date() + timedelta(days=1) if clock >= quiet.start else local.date()
    else:
        inside = quiet.start <= clock < quiet.end
        end_day = local.date()
    if not inside:
        return moment
    return datetime.combine(end_day, quiet.end, tzinfo=zone).astimezone(moment.tzinfo)


def decide(  # noqa: PLR0911 - one return per reason, in the order they are checked
    person: PersonFacts,
    request: DecisionRequest,
    now: datetime,
    policy: ContactPolicy,
    channel_fields: Mapping[str, tuple[str, ...]],
) -> Decision:
    """Suppressed, then consent, then a field on the channel; then caps and quiet hours, with when they lift."""
    if person.status is PersonStatus.SUPPRESSED:
        return Decision(Reason.SUPPRESSED)
    rule = policy.purposes[request.purpose]
    if person.status is PersonStatus.UNKNOWN or (
        rule.consent is not None and not is_allowed(rule.consent, request.channel, person.consents)
    ):
        return Decision(Reason.NO_CONSENT)
    if not person.contact_fields & set(channel_fields.get(request.channel, ())):
        return Decision(Reason.NOT_CONTACTABLE_ON_CHANNEL)
    if rule.exempt:
        return Decision(None)
    if any(limit.max == 0 for limit, _ in _limits(policy, request)):
        return Decision(Reason.FREQUENCY_CAP)  # a purpose closed on this channel: time will not open it
    zone = ZoneInfo(request.time_zone or policy.default_time_zone)
    capped_until, moment = _free_at(person.history.entries(), policy, request, now, zone)
    if capped_until > now:
        # Caps count a live reservation until it expires; one recorded as a contact counts for its whole window.
        _, if_used = _free_at(person.history.live_reservations_used(now).entries(), policy, request, now, zone)
        return Decision(Reason.FREQUENCY_CAP, moment, if_used if if_used > moment else None)
    if moment > now:
        return Decision(Reason.QUIET_HOURS, moment)
    return Decision(None)


def _free_at(
    entries: tuple[ContactEntry, ...], policy: ContactPolicy, request: DecisionRequest, now: datetime, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """When the caps alone allow one more contact, and when the caps and the quiet hours both do."""
    capped_until = cap_free_at(entries, policy, request, now)
    moment = capped_until
    for _ in range(_MAX_ROUNDS):  # the end of the quiet hours may fall in another cap window, and so on
        after_quiet = quiet_until(moment, policy.quiet_hours, zone)
        settled = cap_free_at(entries, policy, request, after_quiet)
        if settled == moment:
            break
        moment = settled
    return capped_until, moment
