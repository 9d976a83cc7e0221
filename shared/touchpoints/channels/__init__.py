"""Each channel's payload model, and the registry that maps a channel to it."""

from touchpoints.channels.common import ChannelTouchpoint, ConsentSubmission, TouchpointBatch
from touchpoints.channels.contact_center import ContactCenterTouchpoint
from touchpoints.channels.email_marketing import EmailTouchpoint
from touchpoints.channels.mobile_app import AppTouchpoint
from touchpoints.channels.push import PushTouchpoint
from touchpoints.channels.sms import SmsTouchpoint
from touchpoints.channels.store import StoreTouchpoint
from touchpoints.channels.web import WebTouchpoint
from touchpoints.model import Channel

PAYLOAD_MODELS: dict[Channel, type[ChannelTouchpoint]] = {
    Channel.WEB: WebTouchpoint,
    Channel.APP: AppTouchpoint,
    Channel.EMAIL: EmailTouchpoint,
    Channel.SMS: SmsTouchpoint,
    Channel.PUSH: PushTouchpoint,
    Channel.CONTACT_CENTER: ContactCenterTouchpoint,
    Channel.STORE: StoreTouchpoint,
}

__all__ = ["PAYLOAD_MODELS", "ChannelTouchpoint", "ConsentSubmission", "TouchpointBatch"]
