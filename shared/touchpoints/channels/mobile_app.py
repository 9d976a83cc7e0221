"""Mobile app: sessions, screens, sign-ups, purchases, push registration."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator
from pydantic_core import PydanticCustomError

from touchpoints.channels.common import ChannelTouchpoint, Code, CustomerData, OpaqueId, Order
from touchpoints.model import Channel, IdentifierKind, PersonalField, Touchpoint, Trace, TraceKind


class AppTouchpoint(ChannelTouchpoint):
    app_user_id: OpaqueId | None = None
    device_id: OpaqueId | None = None
    push_token: OpaqueId | None = None
    action: Literal["app_open", "screen_view", "sign_up", "login", "purchase", "profile_update", "push_registration"]
    screen: Code | None = None
    customer: CustomerData | None = None
    order: Order | None = None

    @model_validator(mode="after")
    def _action_has_its_data(self) -> AppTouchpoint:
        if self.action == "purchase" and self.order is None:
            raise PydanticCustomError("order_required", "a purchase needs its order")
        if self.action == "push_registration" and self.push_token is None:
            raise PydanticCustomError("push_token_required", "a push registration needs the push token")
        return self

    def to_touchpoint(self, channel: Channel = Channel.APP) -> Touchpoint:
        identifiers = self.customer.identifiers() if self.customer else {}
        personal = self.customer.personal_data() if self.customer else {}
        if self.app_user_id:
            identifiers[IdentifierKind.APP_USER_ID] = self.app_user_id
        if self.device_id:
            identifiers[IdentifierKind.ANONYMOUS_ID] = self.device_id
        if self.push_token:
            identifiers[IdentifierKind.PUSH_TOKEN] = self.push_token
            personal[PersonalField.PUSH_TOKEN] = self.push_token
        details: dict[str, str | int | float | bool] = {}
        if self.screen:
            details["screen"] = self.screen
        if self.order:
            details.update(order_id=self.order.order_id, total=self.order.total, currency=self.order.currency)
            details["home_delivery"] = self.order.home_delivery
        kind = TraceKind.TRANSACTIONAL if self.action == "purchase" else TraceKind.VISIT
        return self._touchpoint(channel, identifiers, personal, Trace(kind, self.action, details))
