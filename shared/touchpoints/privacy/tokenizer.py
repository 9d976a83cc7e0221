"""Deterministic keyed tokens: the same identifier always yields the same token, and the
value cannot be recovered or guessed without the secret."""

from __future__ import annotations

import base64
import hmac

from touchpoints.model import IdentifierKind

TOKEN_VERSION = "t1"


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
        digest = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        return f"{TOKEN_VERSION}.{kind.value}.{digest}"


def token_kind(token: str) -> str:
    """The identifier kind a token was made from (kept readable in the token), or "" for anything else."""
    version, _, rest = token.partition(".")
    kind, _, digest = rest.partition(".")
    return kind if version == TOKEN_VERSION and digest else ""
