"""Rotation of the tokenization secret without plaintext: the secret document, the phases, and the move job.

The document kept in Secrets Manager holds every secret of the chain and where a rotation stands
(touchpoints.privacy.tokenizer.TokenSecrets). A rotation from version n to n+1:

1. start      adds s(n+1), phase DUAL: tokens are still written in n, looked up in n and n+1, and every new
              claim is guarded against the other version, so two versions never hold one identifier apart.
2. migrate    once every container has read the document (the propagation wait): phase MIGRATING, tokens are
              written in n+1. After another wait (no container writes n any more) the move job runs.
3. move       the job turns every stored n token (TOKEN# items, LINK# items, suppression markers in the index and
              the backed-up suppression list) into its n+1 token, chained from it: no plaintext is needed.
              Resumable (a cursor per scan segment, stored after each page), idempotent (conditional writes).
4. finish     when a full pass finds no n token left: phase STABLE at n+1. The previous version's vouching keys
              are accepted until the overlap ends.

Pure: the store and the secret are reached through the ports below.
"""

from __future__ import annotations

import json
import secrets as random_secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from touchpoints.errors import DomainError
from touchpoints.privacy.tokenizer import (
    Phase,
    Tokenizer,
    TokenSecrets,
    version_name,
    version_number,
)

DOCUMENT_FORMAT = "touchpoints.tokenization-secret/2"
NEW_SECRET_BYTES = 48
# A container rebuilds its tokenizer when older than this (touchpoints.adapters.secrets), and the longest function
# runs 15 minutes: after both, no container acts on the document before the last change.
DEFAULT_PROPAGATION = timedelta(seconds=900 + 900 + 60)
DEFAULT_VOUCH_OVERLAP = timedelta(days=14)


class RotationRefused(DomainError):
    """The rotation cannot take this step now (another is running, the wait is not over, tokens are left)."""


def parse_secret(text: str) -> TokenSecrets:
    """The secret document; a plain string (the stack's generated secret) is version t1 alone."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict) or document.get("format") != DOCUMENT_FORMAT:
        return TokenSecrets({"t1": text.encode()})
    until = document.get("vouch_previous_until")
    return TokenSecrets(
        {version: str(value).encode() for version, value in document["secrets"].items()},
        current=str(document["current"]),
        phase=Phase(document.get("phase", Phase.STABLE)),
        previous=document.get("previous"),
        vouch_previous_until=datetime.fromisoformat(until) if until else None,
    )


def secret_text(state: TokenSecrets) -> str:
    return json.dumps(
        {
            "format": DOCUMENT_FORMAT,
            "secrets": {version: value.decode() for version, value in state.secrets.items()},
            "current": state.current,
            "phase": state.phase.value,
            "previous": state.previous,
            "vouch_previous_until": state.vouch_previous_until.isoformat() if state.vouch_previous_until else None,
        },
        sort_keys=True,
    )


def new_secret() -> bytes:
    # Text, like the generated t1 secret, so the document stays JSON; 48 url-safe bytes carry 288 bits.
    return random_secrets.token_urlsafe(NEW_SECRET_BYTES)[:NEW_SECRET_BYTES].encode()


def started(state: TokenSecrets, secret: bytes | None = None) -> TokenSecrets:
    if state.phase is not Phase.STABLE:
        raise RotationRefused(f"a rotation to {state.current} is already under way; finish it first")
    following = version_name(version_number(state.current) + 1)
    return TokenSecrets(
        {**state.secrets, following: secret or new_secret()},
        current=following,
        phase=Phase.DUAL,
        previous=state.current,
    )


def migrating(state: TokenSecrets) -> TokenSecrets:
    if state.phase is not Phase.DUAL:
        raise RotationRefused("only a rotation that was started moves to writing the new version")
    return replace(state, phase=Phase.MIGRATING)


def finished(state: TokenSecrets, now: datetime, overlap: timedelta) -> TokenSecrets:
    if state.phase is not Phase.MIGRATING:
        raise RotationRefused("only a migrating rotation can finish")
    return replace(state, phase=Phase.STABLE, vouch_previous_until=now + overlap)


@dataclass(frozen=True, slots=True)
class RotationProgress:
    """The job's record (one item in the identity index): resumable from its cursors, watched by its heartbeat."""

    from_version: str
    to_version: str
    phase: Phase
    started_at: datetime
    phase_since: datetime
    propagation_seconds: int
    total_segments: int
    # Per scan ("index" / "suppression_list") and segment: the cursor to resume from, "" when not begun, or DONE.
    cursors: Mapping[str, str] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    heartbeat_at: datetime | None = None
    passes: int = 0  # full passes completed; finish needs one that moved nothing
    last_pass_moved: int = -1
    finished_at: datetime | None = None

    def ready_at(self) -> datetime:
        return self.phase_since + timedelta(seconds=self.propagation_seconds)

    def cursor_key(self, scan: str, segment: int) -> str:
        return f"{scan}#{segment}"

    @property
    def pass_done(self) -> bool:
        return bool(self.cursors) and all(c == DONE for c in self.cursors.values())


DONE = "done"
_MAX_PASSES_A_RUN = 3  # a pass that still moves tokens is followed by another; more means something writes old ones
SCANS = ("index", "suppression_list")


@dataclass(frozen=True, slots=True)
class MovePage:
    """One scan page's old-version items, each kind with what the move needs (no value, tokens only)."""

    held: Sequence[tuple[str, str, Any]] = ()  # (token, holder, kept) of TOKEN# items in the index
    # Suppression markers in the index, and the backed-up suppression list (profile table): the token, and what
    # the store keeps of the marker (its times and request id), opaque here.
    markers: Sequence[tuple[str, Any]] = ()
    links: Sequence[tuple[str, str, Any]] = ()  # (subject id, token, kept) of LINK# items
    listed: Sequence[tuple[str, Any]] = ()
    scanned: int = 0
    cursor: str | None = None  # None: the segment is done


class SecretStore(Protocol):
    def read(self) -> str: ...

    def write(self, text: str) -> None: ...


class RotationStore(Protocol):
    def load(self) -> RotationProgress | None: ...

    def save(self, progress: RotationProgress, expected_heartbeat: datetime | None) -> None:
        """Conditional on the stored heartbeat still being `expected_heartbeat` (raises RotationRefused if not)."""
        ...

    def page(self, scan: str, version: str, segment: int, total: int, cursor: str | None) -> MovePage: ...

    def move_held(self, moves: Sequence[tuple[str, str, str, Any]]) -> tuple[int, int]:
        """(old token, new token, holder, kept) each: the TOKEN# item and its link moved; (moved, conflicts)."""
        ...

    def move_markers(self, moves: Sequence[tuple[str, str, Any]]) -> int: ...

    def move_links(self, moves: Sequence[tuple[str, str, str, Any]]) -> int:
        """(subject id, old token, new token, kept) each. A link whose token the subject still holds in the old version
        is moved with its TOKEN# item (as move_held), so a link never leads to a token nobody holds."""
        ...

    def move_listed(self, moves: Sequence[tuple[str, str, Any]]) -> int: ...


class RotationMetrics(Protocol):
    def scanned(self, count: int) -> None:
        """A page done: the stall alarm's heartbeat (a pass that finds nothing left to move still scans)."""
        ...


class TokenSecretRotation:
    """The operator's steps (start, migrate, run, finish) over the secret and the job's record."""

    def __init__(
        self,
        secret: SecretStore,
        store: RotationStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: RotationMetrics | None = None,
    ) -> None:
        self._secret = secret
        self._store = store
        self._clock = clock
        self._metrics = metrics

    def state(self) -> TokenSecrets:
        return parse_secret(self._secret.read())

    def progress(self) -> RotationProgress | None:
        return self._store.load()

    def start(self, *, propagation: timedelta = DEFAULT_PROPAGATION, segments: int = 4) -> RotationProgress:
        state = self.state()
        following = started(state)
        now = self._clock()
        progress = RotationProgress(
            state.current,
            following.current,
            Phase.DUAL,
            now,
            now,
            int(propagation.total_seconds()),
            segments,
            cursors={f"{scan}#{s}": "" for scan in SCANS for s in range(segments)},
            heartbeat_at=now,
        )
        previous = self._store.load()
        self._store.save(progress, previous.heartbeat_at if previous else None)
        self._secret.write(secret_text(following))
        return progress

    def advance(self) -> RotationProgress:
        """DUAL -> MIGRATING once every container writes the old version with both looked up."""
        progress = self._require()
        state = self.state()
        now = self._clock()
        if state.phase is Phase.DUAL:
            self._wait_over(progress, now)
            self._secret.write(secret_text(migrating(state)))
            updated = replace(progress, phase=Phase.MIGRATING, phase_since=now, heartbeat_at=now)
            self._store.save(updated, progress.heartbeat_at)
            return updated
        return progress

    def run(
        self,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        on_page: Callable[[RotationProgress], None] = lambda _: None,
    ) -> RotationProgress:
        """Move old-version tokens page by page from the stored cursors, until a pass completes or `should_stop`."""
        progress = self.advance()
        now = self._clock()
        if progress.phase is not Phase.MIGRATING:
            raise RotationRefused("no rotation is migrating")
        self._wait_over(progress, now)
        state = self.state()
        if state.phase is not Phase.MIGRATING or state.current != progress.to_version:
            raise RotationRefused("the secret and the job's record disagree; see `progress`")
        tokenizer = Tokenizer(state)
        while not should_stop():
            if progress.pass_done:
                moved = progress.counts.get("moved_this_pass", 0)
                counts = {**progress.counts, "moved_this_pass": 0}
                cursors = dict.fromkeys(progress.cursors, "")
                progress = self._save(
                    replace(
                        progress, passes=progress.passes + 1, last_pass_moved=moved, counts=counts, cursors=cursors
                    ),
                    progress,
                )
                on_page(progress)
                if moved == 0 or progress.passes >= _MAX_PASSES_A_RUN:
                    return progress
            key = next(k for k, c in progress.cursors.items() if c != DONE)
            scan, _, segment = key.partition("#")
            page = self._store.page(
                scan, progress.from_version, int(segment), progress.total_segments, progress.cursors[key] or None
            )
            moved, conflicts = self._move(tokenizer, progress.to_version, page)
            counts = dict(progress.counts)
            for name, value in (
                ("scanned", page.scanned),
                ("moved", moved),
                ("moved_this_pass", moved),
                ("conflicts", conflicts),
            ):
                counts[name] = counts.get(name, 0) + value
            progress = self._save(
                replace(progress, cursors={**progress.cursors, key: page.cursor or DONE}, counts=counts), progress
            )
            if self._metrics is not None:
                self._metrics.scanned(page.scanned)
            on_page(progress)
        return progress

    def finish(self, *, vouch_overlap: timedelta = DEFAULT_VOUCH_OVERLAP) -> RotationProgress:
        """STABLE at the new version, once a complete pass found no old token left (run again if it moved any)."""
        progress = self._require()
        if progress.phase is not Phase.MIGRATING or progress.passes < 1:
            raise RotationRefused("the move job has not completed a pass; run it first")
        if progress.last_pass_moved != 0:
            raise RotationRefused("the last pass still moved tokens; run the job again until a pass moves none")
        now = self._clock()
        self._secret.write(secret_text(finished(self.state(), now, vouch_overlap)))
        return self._save(replace(progress, phase=Phase.STABLE, phase_since=now, finished_at=now), progress)

    def _move(self, tokenizer: Tokenizer, version: str, page: MovePage) -> tuple[int, int]:
        def new(token: str) -> str:
            return tokenizer.chained(token, version)

        moved, conflicts = self._store.move_held([(t, new(t), holder, kept) for t, holder, kept in page.held])
        moved += self._store.move_markers([(t, new(t), kept) for t, kept in page.markers])
        moved += self._store.move_links([(s, t, new(t), kept) for s, t, kept in page.links])
        moved += self._store.move_listed([(t, new(t), kept) for t, kept in page.listed])
        return moved, conflicts

    def _save(self, progress: RotationProgress, before: RotationProgress) -> RotationProgress:
        updated = replace(progress, heartbeat_at=self._clock())
        self._store.save(updated, before.heartbeat_at)
        return updated

    def _require(self) -> RotationProgress:
        progress = self._store.load()
        if progress is None or progress.phase is Phase.STABLE:
            raise RotationRefused("no rotation is under way; start one")
        return progress

    @staticmethod
    def _wait_over(progress: RotationProgress, now: datetime) -> None:
        if now < progress.ready_at():
            left = int((progress.ready_at() - now).total_seconds()) + 1
            raise RotationRefused(f"containers may still act on the previous phase: wait {left} s and run again")


def describe(progress: RotationProgress) -> dict[str, Any]:
    """What `progress` shows: no token, no value, counts and times only."""
    done = sum(c == DONE for c in progress.cursors.values())
    return {
        "from": progress.from_version,
        "to": progress.to_version,
        "phase": progress.phase.value,
        "started_at": progress.started_at.isoformat(),
        "phase_since": progress.phase_since.isoformat(),
        "ready_at": progress.ready_at().isoformat(),
        "segments_done": f"{done}/{len(progress.cursors)}",
        "passes": progress.passes,
        "last_pass_moved": progress.last_pass_moved,
        "heartbeat_at": progress.heartbeat_at.isoformat() if progress.heartbeat_at else None,
        "finished_at": progress.finished_at.isoformat() if progress.finished_at else None,
        **{name: value for name, value in sorted(progress.counts.items())},
    }
