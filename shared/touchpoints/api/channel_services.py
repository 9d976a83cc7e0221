"""What a channel function's routes use, handed in by its wiring (`touchpoints.wiring.channels`).

Each is a factory the wiring builds once per container, called on a request's first use: a request
refused before it reaches AWS never builds one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from touchpoints.contact.service import ContactService
    from touchpoints.ingestion import IngestionService
    from touchpoints.sdk.failed_events import FailedEventStore


@dataclass(frozen=True)
class ChannelServices:
    ingestion: Callable[[], IngestionService]
    contact: Callable[[], ContactService]
    failed_events: Callable[[], FailedEventStore]
    write_key: Callable[[], str]  # the channel's own API key value, for the browser routes
    prime_before_snapshot: Callable[[Callable[[], object]], None]  # SnapStart: run at init, before the snapshot
