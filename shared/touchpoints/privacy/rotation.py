"""Rotation of the branch key, and the migration of data keys wrapped by KMS into the hierarchy (the same job).

1. start   a new branch key version becomes active: every container wraps new data keys under it within its
           branch-key cache TTL. The rotation record (one item beside the branch keys) holds the target version.
2. run     the re-wrap job pages through the key vault (a parallel scan, a cursor per segment stored after each
           page: resumable after a crash, by `start` again) and moves every data key not yet under the target:
           unwrapped (under its version, or by KMS for a legacy item), wrapped under the target, written back only
           if the vault item still holds the bytes it read. An item erased meanwhile is never written again.
3. finish  once the settling time has passed (no container still wraps under an older version) and the pass is
           done: a sweep moves the keys written under an older version during the pass, a count shows no item
           needs any other version, and the other versions are deleted (retired). Refused otherwise.

The data keys themselves never change: no ciphertext of the profile table is touched, and an erasure still deletes
the one vault item that makes a person's data unreadable.

Pure: the branch key table, the vault and KMS are reached through the ports below.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from touchpoints.errors import DomainError, EncryptionUnavailable
from touchpoints.items.branch_key import DONE, FINISHED, REWRAPPING, new_version
from touchpoints.privacy.branch_keys import (
    LEGACY_KMS,
    BranchKeyCache,
    HierarchicalKeyWrapper,
    version_of,
)
from touchpoints.privacy.cipher import DecryptionFailed
from touchpoints.privacy.keyring import KeyWrapper

# The functions' branch-key cache (BRANCH_KEY_CACHE_SECONDS), plus the longest function's run, plus a minute: after
# that, no container can still wrap a new data key under the version that was active before `start`.
DEFAULT_SETTLE = timedelta(seconds=600 + 900 + 60)
STALLED_AFTER = timedelta(minutes=30)  # a pass whose heartbeat is older is stalled (the hourly check alarms)
TAKEOVER_AFTER = timedelta(minutes=2)  # a job silent this long is taken to be dead: `start` resumes its pass
_KMS_RETRIES = 5


class RotationRefused(DomainError):
    """The rotation cannot take this step now (one is open, the pass is not done, items still need a version)."""


@dataclass(frozen=True, slots=True)
class RotationRecord:
    """Where a rotation stands; stored after every page, read by `progress` and the hourly check."""

    state: str
    target: str
    started_at: datetime
    settled_at: datetime
    estimated_items: int
    segments: Mapping[int, str]  # segment -> "" (not begun), the last subject key read, or DONE
    counts: Mapping[str, int]  # scanned (vault items read), moved, gone (erased or changed meanwhile), unreadable
    heartbeat_at: datetime
    runner: str
    retired: tuple[str, ...] = ()
    finished_at: datetime | None = None

    @property
    def pass_done(self) -> bool:
        return all(cursor == DONE for cursor in self.segments.values())

    def stalled(self, now: datetime, after: timedelta = STALLED_AFTER) -> bool:
        return self.state == REWRAPPING and not self.pass_done and now - self.heartbeat_at > after


@dataclass(frozen=True, slots=True)
class VaultEntry:
    subject_id: str
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class VaultPage:
    entries: tuple[VaultEntry, ...]  # the items read that are not under the target version
    scanned: int  # every item read, those under the target included
    next_cursor: str | None  # None: the segment is done


class BranchKeyVersions(Protocol):
    """The branch key table (touchpoints.adapters.branch_keys.BranchKeyAdmin)."""

    def create_version(self, version: str, now: datetime) -> None: ...

    def activate(self, version: str, previous: str | None) -> None: ...

    def active_version(self) -> str | None: ...

    def versions(self) -> list[str]: ...

    def retire(self, version: str) -> None: ...

    def rotation(self) -> RotationRecord | None: ...

    def save_rotation(self, record: RotationRecord, *, runner: str | None) -> None: ...


class VaultItems(Protocol):
    """The key vault, as the job pages through it (touchpoints.adapters.vault_items.DynamoVaultItems)."""

    def estimated_items(self) -> int: ...

    def page(self, segment: int, segments: int, after: str | None, target: str, limit: int) -> VaultPage: ...

    def rewrap(self, subject_id: str, old: bytes, new: bytes, now: datetime) -> bool:
        """Writes `new` if the item still holds `old`; False if it was erased or changed meanwhile."""
        ...

    def count_by_version(self, segments: int) -> dict[str, int]:
        """Vault items per branch version (LEGACY_KMS for KMS-wrapped ones)."""
        ...


@dataclass
class _Pass:
    """One run of the job over the open record: the shared state of its segment workers."""

    record: RotationRecord
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


class RateLimit:
    """At most `per_second` calls a second across threads (the job's KMS Decrypts of legacy items: the account's
    KMS quota is shared with the functions)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            at = max(now, self._next)
            self._next = at + self._interval
        if at > now:
            time.sleep(at - now)


class BranchKeyRotation:
    """start, run, progress and finish of a branch key rotation (see the module's docstring)."""

    def __init__(
        self,
        versions: BranchKeyVersions,
        vault: VaultItems,
        branch_keys: BranchKeyCache,
        legacy: KeyWrapper,
        *,
        clock: Callable[[], datetime],
        settle: timedelta = DEFAULT_SETTLE,
        segments: int = 8,
        page_size: int = 500,
        kms_per_second: float = 500.0,
        retry_pause: float = 1.0,
    ) -> None:
        self._versions = versions
        self._vault = vault
        self._branch_keys = branch_keys
        self._unwrapper = HierarchicalKeyWrapper(branch_keys, legacy)
        self._clock = clock
        self._settle = settle
        self._segments = segments
        self._page_size = page_size
        self._kms = RateLimit(kms_per_second)
        self._retry_pause = retry_pause

    def start(self) -> RotationRecord:
        """A new rotation to a new version; an open one is resumed instead (taken over if its job is silent)."""
        now = self._clock()
        open_record = self._versions.rotation()
        if open_record is not None and open_record.state == REWRAPPING:
            if _alive(open_record, now) and not open_record.pass_done:
                raise RotationRefused(
                    f"a re-wrap job is running (heartbeat {int((now - open_record.heartbeat_at).total_seconds())} s "
                    "ago); watch it with `progress`"
                )
            record = replace(open_record, runner=_RUNNER, heartbeat_at=now)
            self._versions.save_rotation(record, runner=open_record.runner)
        else:
            record = RotationRecord(
                state=REWRAPPING,
                target=new_version(),
                started_at=now,
                settled_at=now + self._settle,
                estimated_items=self._vault.estimated_items(),
                segments=dict.fromkeys(range(self._segments), ""),
                counts=dict.fromkeys(("scanned", "moved", "gone", "unreadable"), 0),
                heartbeat_at=now,
                runner=_RUNNER,
            )
            self._versions.save_rotation(record, runner=None)  # the record first: it is the lock
        self._make_active(record.target)
        return record

    def run(
        self,
        record: RotationRecord,
        *,
        on_page: Callable[[RotationRecord], None] = lambda record: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> RotationRecord:
        """The re-wrap pass from the record's cursors, segments in parallel; the record is saved after every page.
        Returns where it stopped (every segment DONE, or `should_stop`)."""
        state = _Pass(record)
        todo = [n for n, cursor in record.segments.items() if cursor != DONE]
        with ThreadPoolExecutor(max_workers=max(1, len(todo)), thread_name_prefix="rewrap") as pool:
            futures = [pool.submit(self._segment, state, n, on_page, should_stop) for n in todo]
            try:
                wait(futures, return_when=FIRST_EXCEPTION)
            finally:
                state.stop.set()  # Ctrl-C stops the segments after their current page
        for future in futures:
            future.result()
        return state.record

    def progress(self) -> tuple[RotationRecord | None, list[str], str | None]:
        """The last rotation's record, every stored version, and the active one."""
        return self._versions.rotation(), self._versions.versions(), self._versions.active_version()

    def finish(self, record: RotationRecord | None = None) -> RotationRecord:
        """Sweep, count, retire every other version; refused before the settling time or with the pass not done."""
        record = record or self._versions.rotation()
        now = self._clock()
        if record is None or record.state != REWRAPPING:
            raise RotationRefused("no rotation is open: `start` begins one")
        if not record.pass_done:
            raise RotationRefused("the re-wrap pass is not done: `start` resumes it")
        if now < record.settled_at:
            wait = int((record.settled_at - now).total_seconds())
            raise RotationRefused(
                f"containers may still wrap new keys under an older version for {wait} s more (their branch-key "
                "cache): finish after that"
            )
        self._versions.save_rotation(replace(record, runner=_RUNNER, heartbeat_at=now), runner=record.runner)
        sweep = replace(
            record,
            runner=_RUNNER,
            segments=dict.fromkeys(range(self._segments), ""),
            counts={**record.counts, "scanned": 0},  # the sweep reads the vault again: its own progress
        )
        swept = self.run(sweep)
        left = {v: n for v, n in self._vault.count_by_version(self._segments).items() if v != record.target and n}
        if left:
            found = ", ".join(f"{n} under {_short(v)}" for v, n in sorted(left.items()))
            raise RotationRefused(
                f"vault items still need another version ({found}); nothing was retired. Unreadable ones "
                f"({swept.counts.get('unreadable', 0)}) need a look: their data key cannot be unwrapped"
            )
        retired = tuple(v for v in self._versions.versions() if v != record.target)
        for version in retired:
            self._versions.retire(version)
        done = replace(swept, state=FINISHED, retired=retired, finished_at=self._clock(), heartbeat_at=self._clock())
        self._versions.save_rotation(done, runner=swept.runner)
        return done

    def _make_active(self, target: str) -> None:
        """The record's target stored and active (again, after a crash between the record and the activation)."""
        active = self._versions.active_version()
        if active == target:
            return
        if target not in self._versions.versions():
            self._versions.create_version(target, self._clock())
        self._versions.activate(target, active)

    def _segment(
        self,
        state: _Pass,
        segment: int,
        on_page: Callable[[RotationRecord], None],
        should_stop: Callable[[], bool],
    ) -> None:
        try:
            self._pages(state, segment, on_page, should_stop)
        except BaseException:
            state.stop.set()  # the others stop after their current page, not when the main thread next runs
            raise

    def _pages(
        self,
        state: _Pass,
        segment: int,
        on_page: Callable[[RotationRecord], None],
        should_stop: Callable[[], bool],
    ) -> None:
        target = state.record.target
        while not (state.stop.is_set() or should_stop()):
            cursor = state.record.segments[segment]
            page = self._vault.page(segment, len(state.record.segments), cursor or None, target, self._page_size)
            counts = {"scanned": page.scanned, "moved": 0, "gone": 0, "unreadable": 0}
            for entry in page.entries:
                counts[self._move(entry, target)] += 1
            with state.lock:
                before = state.record
                record = replace(
                    before,
                    segments={**before.segments, segment: page.next_cursor or DONE},
                    counts={k: before.counts.get(k, 0) + counts.get(k, 0) for k in {*before.counts, *counts}},
                    heartbeat_at=self._clock(),
                )
                self._versions.save_rotation(record, runner=record.runner)
                state.record = record
            on_page(record)
            if page.next_cursor is None:
                return

    def _move(self, entry: VaultEntry, target: str) -> str:
        by_kms = version_of(entry.wrapped) is None
        for attempt in range(_KMS_RETRIES):
            try:
                if by_kms:
                    self._kms.wait()
                data_key = self._unwrapper.unwrap(entry.subject_id, entry.wrapped)
                break
            except DecryptionFailed:
                return "unreadable"
            except EncryptionUnavailable:
                if attempt == _KMS_RETRIES - 1:
                    raise
                time.sleep(self._retry_pause * 2**attempt)
        new = self._branch_keys.version(target).wrap(entry.subject_id, data_key)
        moved = self._vault.rewrap(entry.subject_id, entry.wrapped, new, self._clock())
        return "moved" if moved else "gone"


def _short(version: str) -> str:
    return version if version == LEGACY_KMS else version[:8]


_RUNNER = secrets.token_hex(8)  # this process: the job that holds the record


def _alive(record: RotationRecord, now: datetime) -> bool:
    """Another process's job wrote the record recently: it is running."""
    return record.runner != _RUNNER and now - record.heartbeat_at < TAKEOVER_AFTER
