"""Web (www): page views, sign-ups, purchases, ticket registrations."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator
from pydantic_core import PydanticCustomError

from touchpoints.channels.common import (
    ChannelTouchpoint,
    Code,
    CustomerData,
    OpaqueId,
    Order,
    PagePath,
    Strict,
    present,
    when,
)
from touchpoints.model import Channel, IdentifierKind, Touchpoint, Trace, TraceKind


class TicketRef(Strict):
    """A store ticket a customer registers online (to enter a draw, to earn points)."""

    store_id: Code
    folio: Code

    @property
    def identifier(self) -> str:
        return f"{self.store_id}:{self.folio}"


class WebTouchpoint(ChannelTouchpoint):
    """A purchase carries its order, a ticket registration its ticket; an anonymous id, a ticket or the customer's
    identifiers name the visitor."""

    document_rules = (
        when("action", "purchase", present("order")),
        when("action", "ticket_registration", present("ticket")),
    )
    channel = Channel.WEB
    identifier_fields = {"anonymous_id": ("anonymous_id",), "ticket": ("ticket",)}
    customer_data = ("customer", CustomerData)
    anonymous_id: OpaqueId | None = None
    action: Literal[
        "page_view", "sign_up", "login", "purchase", "newsletter_signup", "profile_update", "ticket_registration"
    ]
    page_path: PagePath | None = None
    customer: CustomerData | None = None
    order: Order | None = None
    ticket: TicketRef | None = None

    @model_validator(mode="after")
    def _action_has_its_data(self) -> WebTouchpoint:
        if self.action == "purchase" and self.order is None:
            raise PydanticCustomError("order_required", "a purchase needs its order")
        if self.action == "ticket_registration" and self.ticket is None:
            raise PydanticCustomError("ticket_required", "a ticket registration needs the ticket")
        return self

    def to_touchpoint(self, channel: Channel = Channel.WEB) -> Touchpoint:
        identifiers = self.customer.identifiers() if self.customer else {}
        if self.anonymous_id:
            identifiers[IdentifierKind.ANONYMOUS_ID] = self.anonymous_id
        if self.ticket:
            identifiers[IdentifierKind.TICKET] = self.ticket.identifier
        details: dict[str, str | int | float | bool] = {}
        if self.page_path:
            details["page_path"] = self.page_path
        if self.order:
            details.update(order_id=self.order.order_id, total=self.order.total, currency=self.order.currency)
            details["home_delivery"] = self.order.home_delivery
        if self.ticket:
            details["ticket"] = self.ticket.identifier
        kind = TraceKind.TRANSACTIONAL if self.action in ("purchase", "ticket_registration") else TraceKind.VISIT
        return self._touchpoint(
            channel,
            identifiers,
            self.customer.personal_data() if self.customer else None,
            Trace(kind, self.action, details),
        )
