"""Contact decisions and recorded contacts through the channel handlers, on moto: every reason code, reservations
and their expiry, erasure (suppressed, counters gone), a 1,000-person audience read in batches, no personal data."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import factories
from tests.conftest import find_pii
from tests.contact_helpers import contact, daytime, decisions_body, zone_where_it_is
from tests.integration.compliance_helpers import drain, erase, lean_transaction_backups
from tests.people import person
from tests.reliability import aws_hooks
from touchpoints.contact.decide import DecisionRequest
from touchpoints.contact.service import ContactService, Recipient
from touchpoints.items import event as event_item
from touchpoints.wiring import channels


def decide(lambdas: Any, channel: str, recipients: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    status, body = lambdas.post(channel, decisions_body(recipients, **extra), resource="contact-decisions")
    assert status == 200, body
    assert not find_pii(json.dumps(body))
    return list(body["decisions"])


def record(lambdas: Any, channel: str, *contacts: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return lambdas.post(channel, {"contacts": list(contacts)}, resource="contacts")


def counter_items(local_aws: Any) -> list[dict[str, Any]]:
    return [i for i in local_aws.scan("ProfileTable") if i["sk"]["S"] == "CONTACTS"]


def profile_id(lambdas: Any, channel: str, body: dict[str, Any]) -> str:
    """The profile a touchpoint landed on: a private channel's answer says; a public one's event item does."""
    status, answer = lambdas.post(channel, body)
    assert status == 200, answer
    result = answer["results"][0]
    if "profile_id" in result:
        return str(result["profile_id"])
    assert result["status"] == "accepted", result
    subject = lambdas.aws.subject_of_event(channel, body["event_id"])
    assert subject is not None, result
    return str(subject)


def test_every_reason_code_and_when_each_lifts(lambdas, local_aws):
    # Given a web sign-up with marketing on all channels (email, phone, address), someone who called the contact
    # centre granting personalization only, an app user (email, push token, marketing) with no phone, and someone
    # the system never met
    p = [person(n) for n in range(1600, 1605)]
    signed_up = profile_id(lambdas, "web", factories.web(p[0]))
    profile_id(lambdas, "contact-center", factories.contact_center(p[1]))
    profile_id(lambdas, "app", factories.app(p[2]))
    # and an SMS already sent to the first today
    assert record(lambdas, "sms", contact({"profile_id": signed_up}, "sms"))[0] == 200

    # When the SMS channel and the email channel ask about all of them, by identifiers or profile id
    sms = decide(
        lambdas,
        "sms",
        [
            daytime({"phone": p[0].phone}),
            daytime({"email": p[1].email}),
            daytime({"email": p[2].email}),
            daytime({"email": p[3].email}),
        ],
    )
    email = decide(
        lambdas,
        "email",
        [
            daytime({"profile_id": signed_up}),
            {"profile_id": signed_up, "time_zone": zone_where_it_is(2)},
            daytime({"profile_id": f"sub_{uuid.uuid4().hex}"}),
        ],
    )

    # Then each answer gives its reason, in the request's order, and when time alone will lift it
    assert [d.get("reason") for d in sms] == ["frequency_cap", "no_consent", "not_contactable_on_channel", "no_consent"]
    assert [d["allowed"] for d in sms] == [False] * 4
    capped_until = datetime.fromisoformat(sms[0]["allowed_at"])
    assert datetime.now(UTC) + timedelta(hours=23) < capped_until <= datetime.now(UTC) + timedelta(days=1, hours=9)
    assert sms[1]["allowed_at"] is None and sms[2]["allowed_at"] is None
    assert "profile_id" not in sms[0]  # asked by phone: the answer does not name the profile
    assert email[0] == {"index": 0, "allowed": True, "profile_id": signed_up}
    assert email[1]["reason"] == "quiet_hours"
    assert datetime.now(UTC) < datetime.fromisoformat(email[1]["allowed_at"]) <= datetime.now(UTC) + timedelta(hours=7)
    assert email[2]["reason"] == "suppressed"  # a profile id no profile holds: profiles go only by erasure


def test_a_reservation_holds_the_cap_until_recorded_and_service_messages_are_exempt(lambdas, local_aws):
    p = person(1610)
    subject = profile_id(lambdas, "web", factories.web(p))
    recipient = [daytime({"phone": p.phone})]

    # When an SMS campaign reserves the person, and a second campaign asks at once
    first = decide(lambdas, "sms", recipient, reserve=True)
    second = decide(lambdas, "sms", recipient, reserve=True, campaign="flash-sale")
    # Then the first holds a reservation, the second is refused by the daily SMS cap
    assert first[0]["allowed"] and first[0]["reservation_id"].startswith("rsv_")
    assert second[0]["reason"] == "frequency_cap"
    (counter,) = counter_items(local_aws)
    assert len(counter["reservations"]["L"]) == 1 and counter["sent"]["L"] == []

    # When the channel records the SMS it sent, naming the reservation (and retries the same event)
    sent = contact({"phone": p.phone}, "sms", reservation_id=first[0]["reservation_id"])
    assert record(lambdas, "sms", sent) == (
        200,
        {"channel": "sms", "results": [{"event_id": sent["event_id"], "status": "stored"}]},
    )
    assert record(lambdas, "sms", sent)[1]["results"][0]["status"] == "duplicate"
    # Then the reservation became the contact, counted once
    (counter,) = counter_items(local_aws)
    assert (len(counter["reservations"]["L"]), len(counter["sent"]["L"])) == (0, 1)
    assert counter["sent"]["L"][0]["M"]["c"]["S"] == "buen-fin-2026"
    # and the event is stored as the touchpoint it is, with no content, sealed under the person's key like every event
    (event,) = [i for i in factories.opened_items(local_aws, "event", subject) if i["event_id"] == sent["event_id"]]
    assert (event["channel"], event["action"], event["purpose"], event["trace"]) == (
        "sms",
        "sent_sms",
        "marketing",
        "none",
    )
    (stored,) = [i for i in local_aws.scan("ProfileTable") if i["sk"] == event["sk"]]
    assert set(stored) <= event_item.ATTRIBUTES and sent["event_id"] not in json.dumps(stored, default=str)

    # And a service message about an order is still allowed, and not counted
    service = decide(lambdas, "sms", recipient, purpose="service", reserve=True, campaign="order-status")
    assert service == [{"index": 0, "allowed": True}]
    # and the cap hit of the second campaign is counted for the report, without anyone's id
    (hits,) = [i for i in local_aws.scan("ProfileTable") if i["pk"]["S"] == "CONTACT_CAPS"]
    assert (hits["channel"]["S"], hits["campaign_id"]["S"], hits["hits"]["N"]) == ("sms", "flash-sale", "1")
    assert subject not in json.dumps(hits)


def test_an_unused_reservation_expires(lambdas, local_aws):
    p = person(1620)
    profile_id(lambdas, "web", factories.web(p))
    lambdas.invoke("SmsChannelFunction", factories.api_event("GET", "/v1/sms/nothing", None))  # the sms container
    now = datetime.now(UTC)
    live = channels.contact_service()

    def at(moment: datetime) -> ContactService:
        # The same store, policy and tokenizer as the function's, read at another moment
        return ContactService(
            live._store, live._tokenizer, live._policy, live._fields, live._trust, lambda: moment, keyring=live._keyring
        )

    request = DecisionRequest("sms", "marketing", "cmp-a", zone_where_it_is(13, now))
    recipient = [Recipient(identifiers={factories_kind("phone"): p.phone_e164}, time_zone=request.time_zone)]
    # Given a reservation never used
    (reserved,) = at(now).decide(request, recipient, reserve=True)
    assert reserved.reservation is not None
    # Then 29 minutes later it still holds the cap, and 31 minutes later it does not
    (held,) = at(now + timedelta(minutes=29)).decide(request, recipient, reserve=False)
    assert held.decision.reason is not None and held.decision.reason.value == "frequency_cap"
    assert held.decision.allowed_at == reserved.reservation.expires_at
    (again,) = at(now + timedelta(minutes=31)).decide(request, recipient, reserve=True)
    assert again.decision.allowed and again.reservation is not None
    # and the counter dropped the expired one when it wrote the new one
    (counter,) = counter_items(local_aws)
    assert [r["M"]["r"]["S"] for r in counter["reservations"]["L"]] == [again.reservation.reservation_id]


def factories_kind(name: str) -> Any:
    from touchpoints.model import IdentifierKind

    return IdentifierKind(name)


def test_an_erased_person_is_suppressed_and_their_counters_are_gone(lambdas, local_aws):
    p = person(1630)
    subject = profile_id(lambdas, "web", factories.web(p))
    assert record(lambdas, "email", contact({"email": p.email}, "email"))[0] == 200
    assert decide(lambdas, "email", [daytime({"email": p.email})], reserve=True)[0]["allowed"]
    assert len(counter_items(local_aws)) == 1

    # When compliance erases the person and the worker completes the erasure
    assert erase(lambdas, {"email": p.email})[0] == 202
    drain(lambdas)

    # Then their counter went with the rest of their partition
    assert counter_items(local_aws) == []
    assert not [i for i in local_aws.scan("ProfileTable") if i["pk"]["S"] == f"SUBJECT#{subject}"]
    # and every channel is told they are suppressed, by identifier or by profile id
    answers = decide(lambdas, "email", [daytime({"email": p.email}), daytime({"profile_id": subject})], reserve=True)
    assert [a["reason"] for a in answers] == ["suppressed", "suppressed"]
    # and a contact recorded for them is refused and counts nothing
    status, body = record(lambdas, "email", contact({"email": p.email}, "email"))
    assert status == 409 and body["error"]["code"] == "subject_erased"
    assert counter_items(local_aws) == []


def test_a_thousand_person_audience_is_read_in_batches_within_one_invocation(lambdas, local_aws, monkeypatch):
    lean_transaction_backups(monkeypatch)
    # Given 10 people met on the web and 990 profile ids no one holds
    known = []
    for n in range(1700, 1800):
        body = factories.web(person(n))
        status, _ = lambdas.post("web", body)
        if status == 200:  # a few generated RFCs spell a word the RFC rules forbid: those people are skipped
            known.append(lambdas.aws.subject_of_event("web", body["event_id"]))
        if len(known) == 10:
            break
    audience = [daytime({"profile_id": s}) for s in known]
    audience += [daytime({"profile_id": f"sub_{uuid.uuid4().hex}"}) for _ in range(990)]
    lambdas.invoke("EmailChannelFunction", factories.api_event("GET", "/v1/email/nothing", None))

    # When the email channel reserves the campaign for all 1,000
    with aws_hooks.recording() as calls:
        answers = decide(lambdas, "email", audience, reserve=True)

    # Then every person is answered, in order, in one invocation
    assert [a["index"] for a in answers] == list(range(1000))
    assert sum(a["allowed"] for a in answers) == 10
    assert {a.get("reason") for a in answers[10:]} == {"suppressed"}
    # with the profiles and counters read 50 people per BatchGetItem, and one conditional write per reservation
    operations = [c.operation for c in calls if c.service == "dynamodb"]
    assert operations.count("BatchGetItem") == 20
    assert operations.count("PutItem") == 10
    assert set(operations) == {"BatchGetItem", "PutItem"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (decisions_body([{"email": "nadie@example.com"}], purpose="telepathy"), "unknown_purpose"),
        (decisions_body([]), "too_short"),
        (decisions_body([{"time_zone": "America/Mexico_City"}]), "no_identifier"),
        (decisions_body([{"profile_id": "sub_1", "time_zone": "Mars/Olympus"}]), "string_pattern_mismatch"),
        (decisions_body([{"email": "x@example.com", "time_zone": "Mars/Olympus"}]), "unknown_time_zone"),
        (decisions_body([{"email": "x@example.com"}] * 1001), "too_long"),
    ],
)
def test_bad_decision_requests_are_refused_with_a_4xx(lambdas, local_aws, body, code):
    status, answer = lambdas.post("sms", body, resource="contact-decisions")
    assert status == 422, answer
    assert code in {d["code"] for d in answer["error"]["details"]}


def test_a_contact_kind_the_channel_does_not_send_is_refused_and_public_channels_have_no_contact_routes(
    lambdas, local_aws
):
    p = person(1640)
    profile_id(lambdas, "web", factories.web(p))
    status, answer = record(lambdas, "sms", contact({"phone": p.phone}, "outbound_call"))
    assert status == 422 and answer["error"]["details"][0]["code"] == "unknown_contact_kind"
    for channel in ("web", "app", "store"):
        status, answer = lambdas.post(channel, decisions_body([{"email": p.email}]), resource="contact-decisions")
        assert status == 404, channel


def test_a_merge_adds_the_absorbed_persons_contacts_to_the_survivors_once(lambdas, local_aws):
    from tests.integration.identity_helpers import Merges
    from tests.integration.test_identity_merge import stored
    from touchpoints.adapters import merge_store
    from touchpoints.adapters.merge_store import DynamoMergeStore
    from touchpoints.identity.merge import ItemKind, MovedItem

    # Given an anonymous web visitor who said yes to marketing, and a known app user (email) who did too
    p = person(1640)
    everything = [*factories.ALL_GRANTED, {"purpose": "marketing", "channel": "all", "granted": True}]
    visitor = factories.web(p, "page_view", anonymous_id="anon-1640", customer=None, consent=everything)
    absorbed = stored(lambdas, "web", visitor).get("profile_id") or local_aws.subject_of_event(
        "web", visitor["event_id"]
    )
    survivor = profile_id(lambdas, "app", factories.app(p, "sign_up"))
    assert absorbed != survivor
    # ... one marketing email sent to the visitor, two to the app user: below the cap of 3 in 7 days each
    assert record(lambdas, "email", contact({"profile_id": absorbed}, "email", campaign="cmp-a"))[0] == 200
    for campaign in ("cmp-b", "cmp-c"):
        assert record(lambdas, "email", contact({"profile_id": survivor}, "email", campaign=campaign))[0] == 200
    assert decide(lambdas, "email", [daytime({"email": p.email})])[0]["allowed"]

    tables = ("ProfileTable", "KeyVaultTable", "IdentityIndexTable")
    store = DynamoMergeStore(local_aws.dynamodb, *map(local_aws.table, tables))
    # (what a worker's page of the visitor's partition holds, read before the move: the index's links come first)
    partition = local_aws.dynamodb.query(
        TableName=local_aws.table("ProfileTable"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"SUBJECT#{absorbed}"}},
    )["Items"]
    (counter,) = [i for i in partition if i["sk"]["S"] == "CONTACTS"]
    pending = merge_store._partition_item(counter)
    assert pending.kind is ItemKind.CONTACTS

    # When a login joins them and the merge runs to its end
    stored(
        lambdas, "web", factories.web(p, "login", anonymous_id="anon-1640", customer={"email": p.email}), email=p.email
    )
    Merges(lambdas).settle()

    # Then one counter is left, the survivor's, holding all three contacts
    (counter,) = counter_items(local_aws)
    assert counter["pk"]["S"] == f"SUBJECT#{survivor}"
    assert sorted(e["M"]["c"]["S"] for e in counter["sent"]["L"]) == ["cmp-a", "cmp-b", "cmp-c"]
    # and a marketing decision for the survivor sees the sum: the cap of 3 in 7 days is reached
    (answer,) = decide(lambdas, "email", [daytime({"email": p.email})])
    assert answer["reason"] == "frequency_cap" and answer["allowed_at"]

    # And a delivery that read the visitor's partition before the merge moved it, retried now, adds nothing
    assert store.move(absorbed, survivor, [(pending, MovedItem(pending.sk))]) == {}
    assert counter_items(local_aws) == [counter]
