"""Deterministic keyed tokens: the same identifier always yields the same token, and the
value cannot be recovered or guessed without the secrets.

Tokens are versioned and chained (docs/keys.md, "The tokenization secret"): the first version is
``t1.<kind>.HMAC(s1, kind ␟ value)``, every later one ``t<n>.<kind>.HMAC(s<n>, <the t<n-1> token>)``. A stored
token therefore moves to the next version without the value behind it, which is all there is of anonymous ids,
tickets, app user ids and an erased person's suppression markers. Every secret of the chain stays in use.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from touchpoints.model import IdentifierKind

ROOT_VERSION = "t1"
TOKEN_VERSION = ROOT_VERSION  # the version of a token made straight from a value; later ones are chained from it
_VERSION = re.compile(r"t([1-9][0-9]{0,3})")
_MIN_SECRET_BYTES = 32


class Phase(StrEnum):
    """Where a rotation of the tokenization secret stands (touchpoints.privacy.token_rotation)."""

    STABLE = "stable"  # one version: tokens are written and looked up in `current` only
    DUAL = "dual"  # rotation started: written in `previous`, looked up in both, every claim guarded in both
    MIGRATING = "migrating"  # written in `current`, looked up in both; the move job turns `previous` into `current`


def version_number(version: str) -> int:
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ValueError("a token version is t1, t2, ...")
    return int(match.group(1))


def version_name(number: int) -> str:
    return f"t{number}"


@dataclass(frozen=True, slots=True)
class TokenSecrets:
    """Every secret of the chain (root first) and where a rotation stands, as kept in Secrets Manager."""

    secrets: Mapping[str, bytes]
    current: str = ROOT_VERSION
    phase: Phase = Phase.STABLE
    previous: str | None = None  # the version moved from: during a rotation, and after it for the vouching overlap
    # Until when the previous version's vouching keys are still accepted once the rotation finished.
    vouch_previous_until: datetime | None = None
    chain: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        numbers = sorted(version_number(v) for v in self.secrets)
        if not numbers or numbers != list(range(1, len(numbers) + 1)):
            raise ValueError("the tokenization secrets must be t1..tn with none missing")
        if any(len(s) < _MIN_SECRET_BYTES for s in self.secrets.values()):
            raise ValueError(f"each tokenization secret must be at least {_MIN_SECRET_BYTES} bytes")
        if self.current not in self.secrets or (self.previous is not None and self.previous not in self.secrets):
            raise ValueError("the current and previous versions must be among the secrets")
        if self.phase is not Phase.STABLE and (
            self.previous is None or version_number(self.previous) + 1 != version_number(self.current)
        ):
            raise ValueError("a rotation moves from one version to the next")
        object.__setattr__(self, "chain", tuple(version_name(n) for n in numbers))

    @property
    def write_version(self) -> str:
        """The version new tokens are written in (claims, links, suppression markers)."""
        return self.previous if self.phase is Phase.DUAL and self.previous else self.current

    @property
    def read_versions(self) -> tuple[str, ...]:
        """The versions a lookup tries, the written one first: two during a rotation, one otherwise."""
        if self.phase is Phase.STABLE or self.previous is None:
            return (self.current,)
        other = self.current if self.phase is Phase.DUAL else self.previous
        return (self.write_version, other)


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
    def __init__(self, secret: bytes | TokenSecrets) -> None:
        self._state = secret if isinstance(secret, TokenSecrets) else TokenSecrets({ROOT_VERSION: secret})
        self._secrets = dict(self._state.secrets)

    @property
    def state(self) -> TokenSecrets:
        return self._state

    @property
    def rotating(self) -> bool:
        """Two versions are live: lookups try both, claims are guarded in both."""
        return len(self._state.read_versions) > 1

    def token(self, kind: IdentifierKind, normalized_value: str) -> str:
        """Token for a normalized identifier in the version written now, e.g. ``t1.email.Zq3…``.

        The kind is part of the MAC input, so an email and a phone with equal text never
        share a token, and it is kept readable in the token for routing and audits.
        """
        return self.tokens(kind, normalized_value)[0]

    def tokens(self, kind: IdentifierKind, normalized_value: str) -> tuple[str, ...]:
        """The identifier's token in every version a lookup tries, the written one first (one outside a rotation)."""
        wanted = self._state.read_versions
        made: dict[str, str] = {}
        token = f"{ROOT_VERSION}.{kind.value}.{_b64(self._root_mac(kind.value, normalized_value))}"
        last = max(version_number(v) for v in wanted)
        for number in range(1, last + 1):
            version = version_name(number)
            if number > 1:
                token = self.chained(token, version)
            made[version] = token
        return tuple(made[v] for v in wanted)

    def chained(self, token: str, version: str) -> str:
        """The next version's token of a token, made without the value behind it (the chain's one step)."""
        kind = token_kind(token)
        if not kind or version_number(token_version(token)) + 1 != version_number(version):
            raise ValueError("only a token of the version before can be chained")
        mac = hmac.digest(self._secrets[version], token.encode(), "sha256")
        return f"{version}.{kind}.{_b64(mac)}"

    def lineage(self, token: str) -> tuple[str, ...]:
        """The token and its successors up to the newest version held: what an older token found in a record
        (a compliance request, an audit entry) stands for now. A token of no known version is returned alone."""
        version = token_version(token)
        if not version or version not in self._secrets:
            return (token,)
        found = [token]
        for number in range(version_number(version) + 1, len(self._state.chain) + 1):
            found.append(self.chained(found[-1], version_name(number)))
        return tuple(found)

    def live(self, token: str) -> tuple[str, ...]:
        """The versions of a token that lookups read now (both during a rotation): what a suppression or a release
        of a token found in an older record must reach, and no retired version."""
        versions = self.lineage(token)
        live = tuple(t for t in versions if token_version(t) in self._state.read_versions)
        return live or versions[-1:]

    def current(self, token: str) -> str:
        """The newest version of a token (the chain applied as far as the secrets go)."""
        return self.lineage(token)[-1]

    def unlinked_subject_id(self, channel: str, event_id: str) -> str:
        """The subject of a touchpoint that no identifier links: derived from its event, so a retry finds it.

        Under the root secret in every version: a retry across a rotation must find the same profile, and the id
        says nothing of a person (it is a MAC of the channel and event id).
        """
        mac = hmac.digest(
            self._secrets[ROOT_VERSION], f"unlinked-subject\x1f{channel}\x1f{event_id}".encode(), "sha256"
        )
        return f"sub_{mac[:16].hex()}"

    def vouching_key(self, channel: str, version: str | None = None) -> bytes:
        """The key a channel's own back end signs its vouches with (see policies/trust.yaml), of the newest version
        unless one is named.

        Derived from the version's secret (no identifier kind is named "vouching-key", so it is never a token's
        MAC), so nothing more is stored, and one channel's key cannot vouch on another's route.
        """
        secret = self._secrets[version or self._state.current]
        return hmac.digest(secret, f"vouching-key\x1f{channel}".encode(), "sha256")

    def vouching_versions(self, now: datetime | None = None) -> tuple[str, ...]:
        """Whose vouching keys hold now: the newest, and the previous one during a rotation and its overlap after."""
        state = self._state
        if state.previous is None or state.previous == state.current:
            return (state.current,)
        if state.phase is not Phase.STABLE:
            return (state.current, state.previous)
        until = state.vouch_previous_until
        if until is not None and (now or datetime.now(UTC)) < until:
            return (state.current, state.previous)
        return (state.current,)

    def vouch_holds(
        self, channel: str, event_id: str, kind: str, normalized_value: str, proof: str, now: datetime | None = None
    ) -> bool:
        held = False
        for version in self.vouching_versions(now):
            expected = vouch_proof(self.vouching_key(channel, version), channel, event_id, kind, normalized_value)
            held |= hmac.compare_digest(expected, proof)
        return held

    def _root_mac(self, kind: str, normalized_value: str) -> bytes:
        return hmac.digest(self._secrets[ROOT_VERSION], f"{kind}\x1f{normalized_value}".encode(), "sha256")


def token_version(token: str) -> str:
    """The version a token was made in (which secret made it), or "" for anything else."""
    version, _, _ = token.partition(".")
    return version if _VERSION.fullmatch(version) and token_kind(token) else ""


def token_kind(token: str) -> str:
    """The identifier kind a token was made from (kept readable in the token), or "" for anything else."""
    version, _, rest = token.partition(".")
    kind, _, digest = rest.partition(".")
    return kind if _VERSION.fullmatch(version) and kind and digest else ""
