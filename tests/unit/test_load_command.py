"""`python -m local_runner load`: what it sends, and that its verification catches every kind of loss.

The run itself (over HTTP, against the runner) is `make load`, and CI runs it at 2,000 touchpoints.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from local_runner.commands.demo_data import demo_person, journey, returning
from local_runner.commands.load import Answer, Planned, plan, verify


def test_the_plan_covers_every_channel_with_new_and_known_people_retries_and_bad_input() -> None:
    planned, people = plan(2_000, retry_share=0.05, bad_share=0.03)

    kinds = Counter(p.kind for p in planned)
    assert 2_000 <= len(planned) <= 2_003  # the last journeys are whole
    assert kinds["new"] == people > 300 and kinds["known"] > 300
    assert 50 < kinds["retry"] < 150 and 30 < kinds["bad"] < 100
    channels = {p.path.split("/")[2] for p in planned}
    assert channels == {"web", "store", "app", "push", "email", "sms", "contact-center"}
    first_of = {p.event_id: p for p in planned if p.kind in ("new", "known")}
    assert len(first_of) == kinds["new"] + kinds["known"]  # every touchpoint has its own event id
    assert all(r.event_id in first_of and r.body == first_of[r.event_id].body for r in planned if r.kind == "retry")
    # And a retry names its original, earlier in the plan, so that it is sent once that was answered
    assert all(r.after is not None and planned[r.after].event_id == r.event_id for r in planned if r.kind == "retry")
    # as a person's touchpoint names their previous one, and every journey is whole
    assert all(k.after is not None and planned[k.after].kind in ("new", "known") for k in planned if k.kind == "known")
    followed = {k.after for k in planned if k.kind == "known"}
    assert len(followed) == kinds["known"]  # one next touchpoint per touchpoint at most: each person's is a chain
    assert kinds["known"] == sum(len(journey(demo_person(n))) - 1 for n in range(people))


def test_a_steady_state_plan_brings_each_recognisable_person_back_after_their_journey() -> None:
    # Given the same plan with each person coming back ten times (a retailer's steady state)
    planned, people = plan(1_000, retry_share=0.05, bad_share=0.03, returns=10)
    kinds = Counter(p.kind for p in planned)
    # Then most touchpoints are of known people: each journey is followed by its returns, in one chain a person
    assert kinds["known"] == sum(
        len(journey(demo_person(n))) - 1 + len(returning(demo_person(n), 10)) for n in range(people)
    )
    assert kinds["new"] == people and kinds["new"] / len(planned) < 0.1
    followed = {k.after for k in planned if k.kind == "known"}
    assert len(followed) == kinds["known"]
    # and an anonymous cash buyer never comes back as themselves, while everyone else comes back on their channels
    assert returning(demo_person(2), 10) == []
    assert {t.channel for t in returning(demo_person(0), 10)} == {"store", "app", "push"}
    assert len({t.body["event_id"] for t in returning(demo_person(1), 10)}) == 10  # each a new event
    # each later than the journey and than the return before it, as a customer comes back
    times = [t.body["occurred_at"] for t in journey(demo_person(0)) + returning(demo_person(0), 10)]
    assert times[4:] == sorted(set(times[4:])) and min(times[4:]) > max(times[:4])


def test_logins_carry_their_back_ends_proof_when_the_stack_key_is_given() -> None:
    unsigned, _ = plan(300, retry_share=0.0, bad_share=0.0)
    signed, _ = plan(300, retry_share=0.0, bad_share=0.0, vouching_key=lambda channel: channel.encode() * 4)

    vouched = [json.loads(p.body) for p in signed if b'"verified"' in p.body]
    assert len(vouched) > 20 and all(body["verified"][0]["kind"] == "email" for body in vouched)
    assert {p.path.split("/")[2] for p in signed if b'"verified"' in p.body} == {"web", "app"}
    assert not any(b'"verified"' in p.body for p in unsigned)


def test_distinct_people_share_no_identifier() -> None:
    people = [demo_person(n) for n in range(3_000)]
    for attribute in ("rfc", "curp", "email", "phone", "app_user_id", "push_token", "messenger_id"):
        assert len({getattr(p, attribute) for p in people}) == len(people), attribute


class _Table:
    def __init__(self, event_ids: list[str], unreadable: int = 0) -> None:
        self.ids = event_ids
        self.unreadable_events = unreadable

    def event_ids(self) -> Counter[str]:
        return Counter(self.ids)


def _answer(kind: str, event_id: str, status: int = 200, stored: str = "stored", profile: str = "p1") -> Answer:
    body = json.dumps({"event_id": event_id}).encode()
    planned = Planned(kind, "/v1/email/touchpoints", body, "EmailApiKey", event_id)
    result = {"event_id": event_id, "status": stored}
    if stored != "accepted":  # a public channel's answer names no profile
        result["profile_id"] = profile
    return Answer(planned, status, 0.01, 0.0, [result] if status == 200 else [])


def _profile(subject_id: str, version: int = 2, classified: int | None = 2, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"subject_id": {"S": subject_id}, "version": {"N": str(version)}, **extra}
    if classified is not None:
        item |= {"state": {"S": "A"}, "classified_version": {"N": str(classified)}}
    return item


PROFILES = [_profile("p1")]


def test_a_clean_run_has_no_violation() -> None:
    answers = [
        _answer("new", "e1"),
        _answer("retry", "e1", stored="duplicate"),
        _answer("known", "w1", stored="accepted"),
        _answer("retry", "w1", stored="accepted"),
        _answer("bad", "b1", status=422),
    ]
    merged = _profile("p0", classified=None, status={"S": "merged"}, merged_into={"S": "p1"})
    assert verify(answers, _Table(["e1", "w1"]), [*PROFILES, merged], report_total=1, people=1) == []


def test_every_loss_doubling_and_wrong_answer_is_a_violation() -> None:
    answers = [
        _answer("new", "lost"),
        _answer("new", "lost-public", stored="accepted"),
        _answer("new", "doubled"),
        _answer("new", "e5", status=502),
        _answer("known", "refused", status=400),
        _answer("bad", "stored-bad", status=422),
        _answer("bad", "accepted-bad"),
        _answer("new", "elsewhere", profile="gone"),
    ]
    profiles = [
        *PROFILES,
        _profile("p2", version=1, classified=None),
        _profile("p3", version=3, classified=2),
        _profile("p4", classified=None, status={"S": "merging"}, merged_into={"S": "p1"}),
    ]
    table = _Table(["doubled", "doubled", "stored-bad", "accepted-bad", "ghost", "elsewhere"], unreadable=2)

    violations = verify(answers, table, profiles, report_total=4, people=6)

    assert any(v.startswith("1 answers were 5xx") for v in violations)
    assert any(v.startswith("1 valid touchpoints were refused") for v in violations)
    assert any(v.startswith("1 bad requests were not answered 4xx") for v in violations)
    assert "2 touchpoints answered 200 are not in the table (lost)" in violations
    assert "1 touchpoints are stored more than once" in violations
    assert "2 bad requests left an event in the table" in violations
    assert "1 events are in the table without a 200 for them (nor a lost answer)" in violations
    assert "1 profiles named by an answer are not in the table" in violations
    assert "2 events are in the table without their subject's key (unreadable)" in violations
    assert "3 of 4 profiles are not classified, or their merge not finished (the stream is behind)" in violations
    assert "the table has 3 live profiles for 6 people" in violations  # one more may come from the 502
    assert "the state report counts 4 profiles, the table has 3 live ones" in violations


def test_a_person_split_in_two_profiles_is_a_violation() -> None:
    answers = [_answer("new", "e1"), _answer("known", "e2", profile="p2")]
    profiles = [*PROFILES, _profile("p2")]

    violations = verify(answers, _Table(["e1", "e2"]), profiles, report_total=2, people=1)

    assert violations == ["the table has 2 live profiles for 1 people"]


def test_a_retry_answered_stored_again_is_a_violation() -> None:
    answers = [_answer("new", "e1"), _answer("retry", "e1"), _answer("new", "e2", stored="duplicate")]

    violations = verify(answers, _Table(["e1", "e2"]), PROFILES, report_total=1, people=1)

    assert "1 touchpoints were answered `stored` more than once" in violations
    assert "1 touchpoints were only ever answered `duplicate`, no attempt of them lost" in violations
