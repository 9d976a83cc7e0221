"""SMS: inbound messages, link clicks and keyword opt-in/opt-out."""

from __future__ import annotations

from typing import Literal

from touchpoints.channels.common import ChannelTouchpoint, Code, Phone
from touchpoints.model import Channel, IdentifierKind, Touchpoint, Trace, TraceKind


class SmsTouchpoint(ChannelTouchpoint):
    channel = Channel.SMS
    always_identified = ("phone",)

    phone: Phone
    event: Literal["inbound", "click", "opt_in", "opt_out"]
    campaign_id: Code | None = None
    keyword: Code | None = None

    def to_touchpoint(self, channel: Channel = Channel.SMS) -> Touchpoint:
        identifiers = {IdentifierKind.PHONE: self.phone}
        if self.event in ("opt_in", "opt_out"):
            return self._touchpoint(
                channel, identifiers, implied_consents=self._marketing(channel, self.event == "opt_in")
            )
        details = {k: v for k, v in {"campaign_id": self.campaign_id, "keyword": self.keyword}.items() if v}
        return self._touchpoint(channel, identifiers, trace=Trace(TraceKind.VISIT, f"sms_{self.event}", details))
