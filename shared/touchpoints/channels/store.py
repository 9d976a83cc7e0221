"""Physical store (point of sale): purchases, with or without a known customer."""

from __future__ import annotations

from typing import Literal

from touchpoints.channels.common import Amount, ChannelTouchpoint, Code, Currency, CustomerData
from touchpoints.model import Channel, IdentifierKind, Touchpoint, Trace, TraceKind


class StoreTouchpoint(ChannelTouchpoint):
    store_id: Code
    ticket_folio: Code
    total: Amount
    currency: Currency = "MXN"
    payment_method: Literal["cash", "card", "voucher", "mixed"]
    customer: CustomerData | None = None
    digital_ticket: Literal["email", "phone"] | None = None

    channel = Channel.STORE
    always_identified = ("ticket",)
    customer_data = ("customer", CustomerData)

    def to_touchpoint(self, channel: Channel = Channel.STORE) -> Touchpoint:
        ticket = f"{self.store_id}:{self.ticket_folio}"
        identifiers = {IdentifierKind.TICKET: ticket, **(self.customer.identifiers() if self.customer else {})}
        details: dict[str, str | int | float | bool] = {
            "store_id": self.store_id,
            "ticket": ticket,
            "total": self.total,
            "currency": self.currency,
            "payment_method": self.payment_method,
        }
        if self.digital_ticket:
            details["digital_ticket"] = self.digital_ticket
        return self._touchpoint(
            channel,
            identifiers,
            self.customer.personal_data() if self.customer else None,
            Trace(TraceKind.TRANSACTIONAL, "purchase", details),
        )
