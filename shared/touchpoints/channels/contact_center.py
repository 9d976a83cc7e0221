"""Contact center: phone calls, WhatsApp and Messenger conversations."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator
from pydantic_core import PydanticCustomError

from touchpoints.channels.common import ChannelTouchpoint, Code, CustomerData, OpaqueId, Phone, present, when
from touchpoints.model import Channel, IdentifierKind, PersonalField, Touchpoint, Trace, TraceKind


class Caller(CustomerData):
    IDENTIFIER_FIELDS = (*CustomerData.IDENTIFIER_FIELDS, "whatsapp", "messenger_id")
    PERSONAL_FIELDS = (*CustomerData.PERSONAL_FIELDS, "whatsapp", "messenger_id")

    whatsapp: Phone | None = None
    messenger_id: OpaqueId | None = None


class ContactCenterTouchpoint(ChannelTouchpoint):
    """The caller's id on the conversation's medium is required: a phone, a WhatsApp number or a Messenger id."""

    document_rules = tuple(
        when("medium", medium, {"required": ["caller"], "properties": {"caller": present(field)}})
        for medium, field in (("phone", "phone"), ("whatsapp", "whatsapp"), ("messenger", "messenger_id"))
    )
    channel = Channel.CONTACT_CENTER
    always_identified = ("phone", "whatsapp", "messenger_id")  # the one the medium names is required
    customer_data = ("caller", Caller)
    medium: Literal["phone", "whatsapp", "messenger"]
    caller: Caller
    reason: Literal["support", "complaint", "balance_query", "purchase", "information"]
    case_id: Code | None = None

    @model_validator(mode="after")
    def _caller_reachable_on_medium(self) -> ContactCenterTouchpoint:
        present = {"phone": self.caller.phone, "whatsapp": self.caller.whatsapp, "messenger": self.caller.messenger_id}
        if present[self.medium] is None:
            raise PydanticCustomError("caller_id_required", "the caller's id on the conversation's medium is required")
        return self

    def to_touchpoint(self, channel: Channel = Channel.CONTACT_CENTER) -> Touchpoint:
        identifiers = self.caller.identifiers()
        personal = self.caller.personal_data()
        if self.caller.whatsapp:
            identifiers[IdentifierKind.WHATSAPP] = self.caller.whatsapp
            personal[PersonalField.WHATSAPP] = self.caller.whatsapp
        if self.caller.messenger_id:
            identifiers[IdentifierKind.MESSENGER_ID] = self.caller.messenger_id
            personal[PersonalField.MESSENGER_ID] = self.caller.messenger_id
        kind = TraceKind.VISIT if self.reason == "information" else TraceKind.TRANSACTIONAL
        details = {"medium": self.medium, **({"case_id": self.case_id} if self.case_id else {})}
        return self._touchpoint(channel, identifiers, personal, Trace(kind, self.reason, details))
