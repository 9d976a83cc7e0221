"""Fixtures of the reliability tests: AWS faults, concurrent containers, touchpoints built from payloads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.endpoint
import pytest
from moto.core import models as moto_models

from tests.conftest import FUNCTIONS, LocalAws
from tests.reliability import aws_hooks
from touchpoints.adapters import aws
from touchpoints.adapters.branch_keys import DynamoBranchKeys
from touchpoints.adapters.kms import KmsKeyWrapper
from touchpoints.adapters.profile_store import DynamoProfileStore
from touchpoints.adapters.secrets import TokenizerSource
from touchpoints.channels import PAYLOAD_MODELS
from touchpoints.consent import load_policy
from touchpoints.ingestion import IngestionService
from touchpoints.model import Channel, Touchpoint
from touchpoints.privacy.branch_keys import BranchKeyCache, HierarchicalKeyWrapper
from touchpoints.privacy.keyring import SubjectKeyring
from touchpoints.settings import ChannelSettings


@pytest.fixture
def aws_faults() -> Iterator[aws_hooks.Faults]:
    with aws_hooks.armed() as faults:
        yield faults


@pytest.fixture
def backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The SDK's retry backoff, recorded instead of slept (the waits are real, the clock is not)."""
    sleeps: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=sleeps.append))
    return sleeps


@pytest.fixture
def atomic_aws_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each AWS API call is atomic, as in AWS; threads still interleave between calls.

    moto's TransactWriteItems snapshots and restores whole tables, so two threads inside it
    at once lose each other's writes; DynamoDB serializes conflicting transactions instead.
    """
    lock = threading.Lock()
    process = moto_models.botocore_stubber.process_request

    def serialized(request: Any) -> Any:
        with lock:
            return process(request)

    monkeypatch.setattr(moto_models.botocore_stubber, "process_request", serialized)


ContainerFactory = Callable[[], IngestionService]


@pytest.fixture
def new_container(local_aws: LocalAws) -> ContainerFactory:
    """A fresh Lambda container's IngestionService, built like touchpoints.wiring.channels does, with its own
    caches (token owners, consent snapshots, subject keys, tokenizer secret).

    The boto3 clients are shared: they are thread-safe and hold no state that changes the outcome,
    and building 150 of them would cost seconds.
    """
    environment = local_aws.provisioned.environment(FUNCTIONS["WebChannelFunction"], overrides={})
    settings = ChannelSettings.model_validate({**environment, "AWS_REGION": "us-east-1"})
    session = boto3.session.Session()
    clients = {
        service: session.client(service, region_name=settings.region, config=aws.SDK_CONFIG)
        for service in ("dynamodb", "kms", "secretsmanager")
    }

    def build() -> IngestionService:
        store = DynamoProfileStore(
            clients["dynamodb"], settings.profile_table, settings.key_vault_table, settings.identity_index_table
        )
        branch_keys = DynamoBranchKeys(
            clients["dynamodb"], clients["kms"], settings.branch_key_table, settings.data_key_id
        )
        wrapper = HierarchicalKeyWrapper(
            BranchKeyCache(branch_keys), KmsKeyWrapper(clients["kms"], settings.data_key_id)
        )
        keyring = SubjectKeyring(wrapper)
        tokenizer = TokenizerSource(clients["secretsmanager"], settings.tokenization_secret_id)
        return IngestionService(store, keyring, tokenizer, load_policy())

    return build


def touchpoint(channel: str, payload: dict[str, Any]) -> Touchpoint:
    """The canonical touchpoint a channel function would build from this payload."""
    model = PAYLOAD_MODELS[Channel(channel)]
    return model.model_validate(payload).to_touchpoint(Channel(channel))
