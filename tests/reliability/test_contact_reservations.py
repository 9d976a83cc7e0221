"""Given 50 campaigns reserving the same person at the same moment, in 50 containers, the caps hold: no two
reservations ever go past a cap together, and every campaign gets an answer (allowed, or the cap)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import boto3
import pytest

from tests import factories
from tests.conftest import FUNCTIONS, LocalAws
from tests.contact_helpers import zone_where_it_is
from tests.people import person
from touchpoints.adapters import aws
from touchpoints.adapters.contact_store import DynamoContactStore
from touchpoints.adapters.profile_store import DynamoProfileStore
from touchpoints.adapters.secrets import TokenizerSource
from touchpoints.classification.rules import load_rules
from touchpoints.contact.decide import DecisionRequest
from touchpoints.contact.policy import contact_fields, load_contact_policy
from touchpoints.contact.service import ContactService, PersonDecision, Recipient
from touchpoints.model import IdentifierKind
from touchpoints.settings import ChannelSettings
from touchpoints.trust import load_trust_policy
from touchpoints.wiring import container

pytestmark = pytest.mark.usefixtures("atomic_aws_calls")

CONCURRENCY = 50


def containers(local_aws: LocalAws, count: int) -> list[ContactService]:
    """Fresh containers of the SMS and email functions' contact service, built as touchpoints.wiring.channels does."""
    environment = local_aws.provisioned.environment(FUNCTIONS["SmsChannelFunction"], overrides={})
    settings = ChannelSettings.model_validate({**environment, "AWS_REGION": "us-east-1"})
    session = boto3.session.Session()
    db = session.client("dynamodb", region_name=settings.region, config=aws.SDK_CONFIG)
    secrets = session.client("secretsmanager", region_name=settings.region, config=aws.SDK_CONFIG)
    profiles = DynamoProfileStore(db, settings.profile_table, settings.key_vault_table, settings.identity_index_table)
    return [
        ContactService(
            DynamoContactStore(db, settings.profile_table, profiles),
            TokenizerSource(secrets, settings.tokenization_secret_id),
            load_contact_policy(),
            contact_fields(load_rules()),
            load_trust_policy(),
            keyring=container.keyring(settings),
        )
        for _ in range(count)
    ]


def race(services: list[ContactService], channel: str, phone: str) -> list[PersonDecision]:
    zone = zone_where_it_is(13, datetime.now(UTC))

    def reserve(index: int) -> PersonDecision:
        request = DecisionRequest(channel, "marketing", f"campaign-{index}", zone)
        recipient = Recipient(identifiers={IdentifierKind.PHONE: phone}, time_zone=zone)
        (answer,) = services[index].decide(request, [recipient], reserve=True)
        return answer

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        return list(pool.map(reserve, range(CONCURRENCY)))


def counter(local_aws: LocalAws) -> dict:
    (item,) = [i for i in local_aws.scan("ProfileTable") if i["sk"]["S"] == "CONTACTS"]
    return item


def test_fifty_concurrent_reservations_never_pass_the_caps(lambdas, local_aws):
    # Given a person who may get marketing on every channel
    p = person(660)
    assert lambdas.post("web", factories.web(p))[0] == 200

    # When 50 SMS campaigns reserve them at once: the cap is one SMS a day
    sms = race(containers(local_aws, CONCURRENCY), "sms", p.phone_e164)
    # Then exactly one holds a reservation; the 49 others are refused by the cap, until that one expires
    reserved = [a for a in sms if a.reservation is not None]
    assert len(reserved) == 1
    assert {a.decision.reason.value for a in sms if a.reservation is None} == {"frequency_cap"}  # type: ignore[union-attr]
    assert {a.decision.allowed_at for a in sms if a.reservation is None} == {reserved[0].reservation.expires_at}  # type: ignore[union-attr]

    # When 50 email campaigns race next: three marketing contacts in 7 days across channels, one already held
    email = race(containers(local_aws, CONCURRENCY), "email", p.phone_e164)
    # Then exactly two more are reserved, and the counter holds exactly the three reservations answered
    assert sum(1 for a in email if a.reservation is not None) == 2
    held = {r["M"]["r"]["S"] for r in counter(local_aws)["reservations"]["L"]}
    assert held == {a.reservation.reservation_id for a in sms + email if a.reservation is not None}
    # and every refused campaign was counted as a cap hit, per channel and campaign
    hits = [i for i in local_aws.scan("ProfileTable") if i["pk"]["S"] == "CONTACT_CAPS"]
    assert sum(int(i["hits"]["N"]) for i in hits) == 2 * CONCURRENCY - 3
