"""Email: engagement events from the email service provider."""

from __future__ import annotations

from typing import Literal

from touchpoints.channels.common import ChannelTouchpoint, Code, Email, PagePath
from touchpoints.model import Channel, IdentifierKind, Touchpoint, Trace, TraceKind


class EmailTouchpoint(ChannelTouchpoint):
    channel = Channel.EMAIL
    always_identified = ("email",)

    recipient: Email
    event: Literal["open", "click", "unsubscribe", "subscribe"]
    campaign_id: Code | None = None
    link_path: PagePath | None = None

    def to_touchpoint(self, channel: Channel = Channel.EMAIL) -> Touchpoint:
        identifiers = {IdentifierKind.EMAIL: self.recipient}
        if self.event in ("unsubscribe", "subscribe"):
            return self._touchpoint(
                channel, identifiers, implied_consents=self._marketing(channel, self.event == "subscribe")
            )
        details = {k: v for k, v in {"campaign_id": self.campaign_id, "link_path": self.link_path}.items() if v}
        return self._touchpoint(channel, identifiers, trace=Trace(TraceKind.VISIT, f"email_{self.event}", details))
