"""The contact-pressure report: how many people received N contacts lately, and where caps refused contacts.

Counts only: no subject id, no personal data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from touchpoints.contact.decide import ContactEntry
from touchpoints.contact.policy import ContactPolicy

WINDOWS_DAYS = (7, 30)


class ContactReportSource(Protocol):
    def recent_contacts(self, days: list[date]) -> Iterator[tuple[ContactEntry, ...]]: ...

    def cap_hits(self, since: date) -> Mapping[tuple[str, str], int]: ...


def contact_pressure(
    source: ContactReportSource,
    policy: ContactPolicy,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """People by number of contacts sent in the last 7 and 30 days; cap hits per channel and campaign (30 days)."""
    now = clock()
    longest = max(WINDOWS_DAYS)
    days = [now.date() - timedelta(days=back) for back in range(longest, -1, -1)]
    people: dict[int, Counter[int]] = {window: Counter() for window in WINDOWS_DAYS}
    for sent in source.recent_contacts(days):
        for window in WINDOWS_DAYS:
            n = sum(1 for e in sent if now - timedelta(days=window) < e.at <= now)
            if n:
                people[window][n] += 1
    hits = source.cap_hits(days[0])
    by_channel: Counter[str] = Counter()
    by_campaign: Counter[str] = Counter()
    for (channel, campaign), count in hits.items():
        by_channel[channel] += count
        by_campaign[campaign] += count
    return {
        "policy_version": policy.version,
        "generated_at": now.isoformat(),
        "people_by_contacts": {
            f"last_{window}_days": {str(n): people[window][n] for n in sorted(people[window])}
            for window in WINDOWS_DAYS
        },
        "people_contacted": {f"last_{window}_days": sum(people[window].values()) for window in WINDOWS_DAYS},
        "cap_hits": {
            "since": days[0].isoformat(),
            "by_channel": dict(sorted(by_channel.items())),
            "by_campaign": dict(sorted(by_campaign.items())),
            "by_channel_and_campaign": [
                {"channel": channel, "campaign_id": campaign, "hits": count}
                for (channel, campaign), count in sorted(hits.items())
            ],
        },
    }
