"""Each channel's payload model, and the registry that maps a channel to it."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from touchpoints.channels.common import ChannelTouchpoint, ConsentSubmission, TouchpointBatch
from touchpoints.model import Channel

_MODELS = {
    Channel.WEB: ("web", "WebTouchpoint"),
    Channel.APP: ("mobile_app", "AppTouchpoint"),
    Channel.EMAIL: ("email_marketing", "EmailTouchpoint"),
    Channel.SMS: ("sms", "SmsTouchpoint"),
    Channel.PUSH: ("push", "PushTouchpoint"),
    Channel.CONTACT_CENTER: ("contact_center", "ContactCenterTouchpoint"),
    Channel.STORE: ("store", "StoreTouchpoint"),
}


class _PayloadModels(Mapping[Channel, type[ChannelTouchpoint]]):
    """Imports a channel's model when it is first asked for: a channel function's cold start loads only its own."""

    def __getitem__(self, channel: Channel) -> type[ChannelTouchpoint]:
        module, name = _MODELS[channel]
        model: type[ChannelTouchpoint] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return model

    def __iter__(self) -> Iterator[Channel]:
        return iter(_MODELS)

    def __len__(self) -> int:
        return len(_MODELS)


PAYLOAD_MODELS: Mapping[Channel, type[ChannelTouchpoint]] = _PayloadModels()

__all__ = ["PAYLOAD_MODELS", "ChannelTouchpoint", "ConsentSubmission", "TouchpointBatch"]
