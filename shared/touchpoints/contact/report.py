"""The contact-pressure report: how many people received N contacts lately, and where caps refused contacts.

Read from counters (contact/pressure.py): the pressure items of the last 30 days recorded and the cap-hit items,
a fixed number of reads however many people were contacted. Counts only: no subject id, no personal data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from touchpoints.contact.policy import ContactPolicy
from touchpoints.contact.pressure import LONGEST, WINDOWS_DAYS, histograms


class ContactReportSource(Protocol):
    def pressure_cells(self, days: list[date]) -> Mapping[tuple[date, int, int], int]:
        """(target day, window, contacts) -> people moved, by the contacts recorded on these days."""
        ...

    def cap_hits(self, since: date) -> Mapping[tuple[str, str], int]: ...


def contact_pressure(
    source: ContactReportSource,
    policy: ContactPolicy,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """People by number of contacts sent in the last 7 and 30 days (UTC days, today included); cap hits per channel
    and campaign (30 days)."""
    now = clock()
    today = now.astimezone(UTC).date()
    # A contact recorded on day r moves the histograms of days r .. r+29: today's are moved by the last 30 days'.
    recorded = [today - timedelta(days=back) for back in range(LONGEST - 1, -1, -1)]
    people = histograms(source.pressure_cells(recorded), today)
    since = today - timedelta(days=LONGEST)
    hits = source.cap_hits(since)
    by_channel: Counter[str] = Counter()
    by_campaign: Counter[str] = Counter()
    for (channel, campaign), count in hits.items():
        by_channel[channel] += count
        by_campaign[campaign] += count
    return {
        "policy_version": policy.version,
        "generated_at": now.isoformat(),
        "people_by_contacts": {
            f"last_{window}_days": {str(n): count for n, count in people[window].items()} for window in WINDOWS_DAYS
        },
        "people_contacted": {f"last_{window}_days": sum(people[window].values()) for window in WINDOWS_DAYS},
        "cap_hits": {
            "since": since.isoformat(),
            "by_channel": dict(sorted(by_channel.items())),
            "by_campaign": dict(sorted(by_campaign.items())),
            "by_channel_and_campaign": [
                {"channel": channel, "campaign_id": campaign, "hits": count}
                for (channel, campaign), count in sorted(hits.items())
            ],
        },
    }
