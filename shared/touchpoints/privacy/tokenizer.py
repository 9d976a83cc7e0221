"""Deterministic keyed tokens: the same identifier always yields the same token, and the
value cannot be recovered or guessed without the secret."""

from __future__ import annotations

import base64
import hmac

from touchpoints.model import IdentifierKind

TOKEN_VERSION = "t1"


def _b64(mac: bytes) -> str:
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def vouch_proof(vouching_key: bytes, channel: str, event_id: str, kind: str, normalized_value: str) -> str:
    """What a channel's back end sends as `proof` to vouch that one identifier of one touchpoint was verified.

    Bound to the channel, the event id, the kind and the value: a proof cannot be replayed for another
    touchpoint or another identifier.
    """
    return _b64(
        hmac.digest(vouching_key, f"{channel}\x1f{event_id}\x1f{kind}\x1f{normalized_value}".encode(), "sha256")
    )


class Tokenizer:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("tokenization secret must be at least 32 bytes")
        self._secret = secret

    def token(self, kind: IdentifierKind, normalized_value: str) -> str:
        """Token for a normalized identifier, e.g. ``t1.email.Zq3…``.

        The kind is part of the MAC input, so an email and a phone with equal text never
        share a token, and it is kept readable in the token for routing and audits.
        """
        mac = hmac.digest(self._secret, f"{kind.value}\x1f{normalized_value}".encode(), "sha256")
        return f"{TOKEN_VERSION}.{kind.value}.{_b64(mac)}"

    def unlinked_subject_id(self, channel: str, event_id: str) -> str:
        """The subject of a touchpoint that no identifier links: derived from its event, so a retry finds it."""
        mac = hmac.digest(self._secret, f"unlinked-subject\x1f{channel}\x1f{event_id}".encode(), "sha256")
        return f"sub_{mac[:16].hex()}"

    def vouching_key(self, channel: str) -> bytes:
        """The key a channel's own back end signs its vouches with (see policies/trust.yaml).

        Derived from the secret (no identifier kind is named "vouching-key", so it is never a token's MAC),
        so nothing more is stored, and one channel's key cannot vouch on another's route.
        """
        return hmac.digest(self._secret, f"vouching-key\x1f{channel}".encode(), "sha256")

    def vouch_holds(self, channel: str, event_id: str, kind: str, normalized_value: str, proof: str) -> bool:
        expected = vouch_proof(self.vouching_key(channel), channel, event_id, kind, normalized_value)
        return hmac.compare_digest(expected, proof)


def token_kind(token: str) -> str:
    """The identifier kind a token was made from (kept readable in the token), or "" for anything else."""
    version, _, rest = token.partition(".")
    kind, _, digest = rest.partition(".")
    return kind if version == TOKEN_VERSION and digest else ""
