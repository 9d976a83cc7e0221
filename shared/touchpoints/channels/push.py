"""Push notifications: opens and opt-outs reported by the push provider."""

from __future__ import annotations

from typing import Literal

from touchpoints.channels.common import ChannelTouchpoint, Code, OpaqueId
from touchpoints.model import Channel, IdentifierKind, Touchpoint, Trace, TraceKind


class PushTouchpoint(ChannelTouchpoint):
    channel = Channel.PUSH
    always_identified = ("push_token",)
    identifier_fields = {"app_user_id": ("app_user_id",)}

    push_token: OpaqueId
    app_user_id: OpaqueId | None = None
    event: Literal["open", "dismiss", "opt_out"]
    campaign_id: Code | None = None

    def to_touchpoint(self, channel: Channel = Channel.PUSH) -> Touchpoint:
        identifiers = {IdentifierKind.PUSH_TOKEN: self.push_token}
        if self.app_user_id:
            identifiers[IdentifierKind.APP_USER_ID] = self.app_user_id
        if self.event == "opt_out":
            return self._touchpoint(channel, identifiers, implied_consents=self._marketing(channel, False))
        details = {"campaign_id": self.campaign_id} if self.campaign_id else {}
        return self._touchpoint(channel, identifiers, trace=Trace(TraceKind.VISIT, f"push_{self.event}", details))
