"""SnapStart: what a snapshot may carry into every copy restored from it, and what it must not.

With SnapStart, Lambda runs a function's init once, when it publishes a version, snapshots the
memory, and starts many execution environments from that one snapshot. Whatever init left in memory
is in all of them and in the stored snapshot. So before the snapshot this module drops everything a
container builds that holds a secret, a key or a connection (the keyring with its unwrapped data keys
and branch keys, the tokenization secret, the SDK session with its credentials, the SDK
clients with their connection pools); after each restore it reseeds `random` (the SDK's and our retry
jitter: identical copies would back off in lockstep) and drops them again. Everything is rebuilt on
first use, as in a new container. Before that, it loads what requests would otherwise load on first
use (validators, phone metadata, payload schemas), which holds no secret and no personal data.

Lambda runs the hooks of modules the handler imports; the channel wiring (`touchpoints.wiring.channels`) imports
this one. `local_runner.emulator.snapstart` runs the same hooks around a fork to test them without AWS.
"""

from __future__ import annotations

import importlib
import random
import sys
from collections.abc import Callable

from snapshot_restore_py import register_after_restore, register_before_snapshot

from touchpoints.wiring import container

# Imported on a request's first use (the channel wiring's factories, touchpoints.normalize, .consent): worth loading
# before a snapshot. The adapters and boto3 are among them; a function without SnapStart loads them on first use.
_FIRST_USE_MODULES = (
    "touchpoints.adapters.aws",
    "touchpoints.adapters.kms",
    "touchpoints.adapters.branch_keys",
    "touchpoints.adapters.profile_store",
    "touchpoints.adapters.secrets",
    "touchpoints.privacy.keyring",
    "touchpoints.privacy.branch_keys",
    "touchpoints.ingestion",
    "touchpoints.adapters.contact_store",
    "touchpoints.contact.service",
    "touchpoints.adapters.api_keys",
    "email_validator",
    "phonenumbers",
    "yaml",
)
_primers: list[Callable[[], object]] = []


def prime_before_snapshot(primer: Callable[[], object]) -> None:
    """Run `primer` at init before the snapshot is taken (it must hold no secret and call no AWS service)."""
    _primers.append(primer)


def prime() -> None:
    for name in _FIRST_USE_MODULES:
        importlib.import_module(name)
    phonenumbers = importlib.import_module("phonenumbers")
    phonenumbers.PhoneMetadata.metadata_for_region("MX")
    for primer in _primers:
        primer()


def forget_secrets_keys_and_connections() -> None:
    """Every per-container object, the ingestion service (keyring, tokenizer) and SDK clients and session first."""
    container.reset()
    if (aws := sys.modules.get("touchpoints.adapters.aws")) is not None:
        aws.session.cache_clear()


def reseed_random() -> None:
    random.seed()


# Lambda runs before-snapshot hooks in the reverse order of registration: prime, then forget.
register_before_snapshot(forget_secrets_keys_and_connections)
register_before_snapshot(prime)
register_after_restore(reseed_random)
register_after_restore(forget_secrets_keys_and_connections)
