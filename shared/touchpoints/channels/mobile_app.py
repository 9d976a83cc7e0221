"""Mobile app: sessions, screens, sign-ups, purchases, push registration."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import model_validator
from pydantic_core import PydanticCustomError

from touchpoints.channels.common import ChannelTouchpoint, Code, CustomerData, OpaqueId, Order, present, when
from touchpoints.model import Channel, IdentifierKind, PersonalField, Touchpoint, Trace, TraceKind


class AppTouchpoint(ChannelTouchpoint):
    """A purchase carries its order, a push registration its push token. `previous_anonymous_id` goes with a login
    or sign-up's `app_user_id`; a `device_id` beside it must be the same id (the document asks for none)."""

    document_rules = (
        when("action", "purchase", present("order")),
        when("action", "push_registration", present("push_token")),
        when(
            "previous_anonymous_id",
            None,
            {
                "required": ["action", "app_user_id"],
                "properties": {
                    "action": {"enum": ["login", "sign_up"]},
                    "app_user_id": {"not": {"type": "null"}},
                    "device_id": {"type": "null"},
                },
            },
        ),
    )
    channel = Channel.APP
    identifier_fields = {
        "app_user_id": ("app_user_id",),
        "anonymous_id": ("device_id", "previous_anonymous_id"),
        "push_token": ("push_token",),
    }
    personal_fields = ("push_token",)
    customer_data = ("customer", CustomerData)
    app_user_id: OpaqueId | None = None
    device_id: OpaqueId | None = None
    # An explicit link (like Segment's alias): on login or sign-up, the anonymous id the app used before it.
    previous_anonymous_id: OpaqueId | None = None
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
        if self.previous_anonymous_id is not None:
            if self.action not in ("login", "sign_up") or self.app_user_id is None:
                raise PydanticCustomError(
                    "alias_needs_login", "previous_anonymous_id links a login or sign-up's app_user_id to it"
                )
            if self.device_id not in (None, self.previous_anonymous_id):
                raise PydanticCustomError(
                    "alias_conflicts_device", "previous_anonymous_id and device_id name two anonymous ids"
                )
        return self

    def to_touchpoint(self, channel: Channel = Channel.APP) -> Touchpoint:
        identifiers = self.customer.identifiers() if self.customer else {}
        personal = self.customer.personal_data() if self.customer else {}
        if self.app_user_id:
            identifiers[IdentifierKind.APP_USER_ID] = self.app_user_id
        if self.device_id or self.previous_anonymous_id:
            identifiers[IdentifierKind.ANONYMOUS_ID] = self.previous_anonymous_id or self.device_id or ""
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
        touchpoint = self._touchpoint(channel, identifiers, personal, Trace(kind, self.action, details))
        return replace(touchpoint, alias=self.previous_anonymous_id is not None)
