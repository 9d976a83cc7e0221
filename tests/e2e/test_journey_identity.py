"""Identity resolution over HTTP through the local runner: the journeys of issue 12.

Channels post with their own keys (the web and the app, public channels, with their back end's vouch on a
login); the runner's pollers carry each claimed merge from the profile stream to the merge queue and the
merge worker, and the classifier reclassifies the survivor. Each step waits for the stream and the queues to
settle (the merge completed in the identity log, the classifier caught up) before the next one runs.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from local_runner.commands.demo_data import stack_secret
from tests import factories
from tests.e2e.conftest import Runner, assert_no_pii, wait_for
from tests.people import person
from touchpoints.privacy.tokenizer import Tokenizer

pytestmark = pytest.mark.e2e

OPERATOR = "ComplianceOperatorRole"
ANALYTICS = [{"purpose": "analytics", "granted": True}]


class Identity:
    """What a test needs beside the API: the stack's tokenizer (to vouch as the web's back end, to find subjects)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        secrets = boto3.client(
            "secretsmanager",
            endpoint_url=runner.health["aws_endpoint"],
            region_name=runner.health["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self.tokenizer = Tokenizer(stack_secret(secrets).encode())

    def post(self, channel: str, body: dict[str, Any], **vouch: str) -> dict[str, Any]:
        if vouch:
            body = factories.vouched(body, channel, self.tokenizer, **vouch)
        response = self.runner.post(channel, body)
        assert response.status_code == 200, response.text
        return dict(response.json()["results"][0])

    def subject_of(self, kind: str, value: str) -> str | None:
        table = self.runner.health["tables"]["IdentityIndexTable"]
        return factories.subject_of(self.runner.dynamodb(), table, self.tokenizer, kind, value)

    def log(self, kind: str) -> list[dict[str, Any]]:
        answer = self.runner.signed(OPERATOR, "GET", f"/v1/compliance/identity-log?kind={kind}")
        assert answer.status_code == 200, answer.text
        assert_no_pii(answer.text, "the identity log")
        return list(answer.json()["entries"])

    def merged(self, absorbed: str, timeout: float = 60) -> dict[str, Any]:
        """The merge of `absorbed` once the stream poller queued it and the merge worker completed it."""

        def completed() -> dict[str, Any] | None:
            done = [e for e in self.log("merge") if e["subjects"] == [absorbed] and e["state"] == "completed"]
            return done[0] if done else None

        return dict(wait_for(completed, timeout, "the merge to complete"))


@pytest.fixture(scope="module")
def identity(runner: Runner) -> Identity:
    return Identity(runner)


def test_cash_then_ticket_registration(runner: Runner, identity: Identity) -> None:
    # Given a customer known from a web sign-up, and a cash purchase at a store (traced only: state G)
    p = person(4701)
    identity.post("web", factories.web(p))
    known = identity.subject_of("email", p.email)
    buyer = identity.post("store", factories.store(None, folio="F-47011", payment_method="cash"))["profile_id"]
    assert known and buyer != known
    assert runner.classified(buyer)["state"]["S"] == "G"

    # When they register the ticket online with the same email (confirmed by the web's back end)
    registration = factories.web(
        p,
        "ticket_registration",
        anonymous_id=None,
        customer={"email": p.email},
        ticket={"store_id": "TDA-042", "folio": "F-47011"},
    )
    assert identity.post("web", registration, email=p.email)["status"] == "accepted"
    merge = identity.merged(buyer)

    # Then the purchase is the known customer's: merged, reclassified with it, out of the state report
    assert merge["survivor"] == known and merge["kinds"] == ["ticket"] and merge["counts"]["events_moved"] == 1
    survivor = runner.classified(known)
    assert int(survivor["trace_transactional"]["N"]) == 2 and survivor["state"]["S"] == "A"
    tombstone = runner.profile(buyer)
    assert tombstone is not None and tombstone["status"]["S"] == "merged" and "state_key" not in tombstone
    # and the store's next purchase with that ticket lands on the known customer
    again = identity.post("store", factories.store(None, folio="F-47011", payment_method="cash"))
    assert again["profile_id"] == known and again["identity"] == "single"


def test_anonymous_then_login(runner: Runner, identity: Identity) -> None:
    # Given someone browsing anonymously (analytics consent), and the same person known from the app
    p = person(4702)
    for _ in range(3):
        identity.post("web", factories.web(p, "page_view", customer=None, consent=ANALYTICS, anonymous_id="anon-4702"))
    identity.post("app", factories.app(p, "sign_up"))
    anonymous, known = identity.subject_of("anonymous_id", "anon-4702"), identity.subject_of("email", p.email)
    assert anonymous and known and anonymous != known
    runner.classified(anonymous)

    # When they log in on the web (the web's back end vouching for the email)
    login = factories.web(p, "login", anonymous_id="anon-4702", customer={"email": p.email})
    identity.post("web", login, email=p.email)
    identity.merged(anonymous)

    # Then the visits are theirs, the anonymous id finds them, and the classifier saw the whole
    survivor = runner.classified(known)
    assert int(survivor["trace_visit"]["N"]) == 3 + 1 + 1
    assert identity.subject_of("anonymous_id", "anon-4702") == known
    assert runner.profile(anonymous)["merged_into"]["S"] == known  # type: ignore[index]


def test_app_alias(runner: Runner, identity: Identity) -> None:
    # Given app sessions before login (a device id), and the user known by their app user id
    p = person(4703)
    before = factories.app(p, customer=None, consent=ANALYTICS, app_user_id=None, push_token=None, device_id="dev-4703")
    identity.post("app", before)
    identity.post("app", factories.app(p, "sign_up"))
    anonymous, known = (
        identity.subject_of("anonymous_id", "dev-4703"),
        identity.subject_of("app_user_id", p.app_user_id),
    )
    assert anonymous and known and anonymous != known

    # When the app logs in naming the anonymous id it used before (previous_anonymous_id: an explicit link)
    alias = factories.app(p, "login", previous_anonymous_id="dev-4703", customer=None, push_token=None)
    identity.post("app", alias, app_user_id=p.app_user_id)
    merge = identity.merged(anonymous)

    # Then they are one profile
    assert merge["survivor"] == known and merge["kinds"] == ["anonymous_id"]
    assert identity.subject_of("anonymous_id", "dev-4703") == known
    runner.classified(known)


def test_conflicting_rfcs_never_merge(runner: Runner, identity: Identity) -> None:
    # Given Q (RFC and email) and R (another RFC), known from store purchases
    q, r = person(4704), person(4705)
    q_id = identity.post("store", factories.store(q, folio="F-47041"))["profile_id"]
    r_id = identity.post("store", factories.store(r, folio="F-47051") | {"customer": {"rfc": r.rfc}})["profile_id"]

    # When a purchase carries Q's email and R's RFC
    mixed = factories.store(None, folio="F-47061") | {
        "customer": {"rfc": r.rfc, "email": q.email},
        "consent": [{"purpose": "personalization", "granted": True}],
    }
    result = identity.post("store", mixed)

    # Then it is stored on R as a conflict (never a 5xx), nothing merges, and R does not take Q's email
    assert result["profile_id"] == r_id and result["identity"] == "conflict"
    (entry,) = [e for e in identity.log("conflict") if e["event_id"] == mixed["event_id"]]
    assert entry["subjects"] == [q_id] and entry["conflicting_kinds"] == ["rfc"]
    r_profile = runner.classified(r_id)
    assert "email" not in r_profile["fields"]["M"] and r_profile["status"]["S"] == "active"
    assert runner.classified(q_id)["status"]["S"] == "active"
    assert not [e for e in identity.log("merge") if q_id in e["subjects"] or r_id in e["subjects"]]
