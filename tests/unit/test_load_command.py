"""`python -m local_runner load`: what it sends, and that its verification catches every kind of loss.

The run itself (over HTTP, against the runner) is `make load`, and CI runs it at 2,000 touchpoints.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from local_runner.demo_data import demo_person
from local_runner.load import Answer, Planned, plan, verify


def test_the_plan_covers_every_channel_with_new_and_known_people_retries_and_bad_input() -> None:
    planned, people = plan(2_000, retry_share=0.05, bad_share=0.03)

    kinds = Counter(p.kind for p in planned)
    assert len(planned) == 2_000
    assert kinds["new"] == people > 300 and kinds["known"] > 300
    assert 50 < kinds["retry"] < 150 and 30 < kinds["bad"] < 100
    channels = {p.path.split("/")[2] for p in planned}
    assert channels == {"web", "store", "app", "push", "email", "sms", "contact-center"}
    first_of = {p.event_id: p for p in planned if p.kind in ("new", "known")}
    assert len(first_of) == kinds["new"] + kinds["known"]  # every touchpoint has its own event id
    assert all(r.event_id in first_of and r.body == first_of[r.event_id].body for r in planned if r.kind == "retry")
    # And a retry names its original, earlier in the plan, so that it is sent once that was answered
    assert all(
        r.retry_of is not None and planned[r.retry_of].event_id == r.event_id for r in planned if r.kind == "retry"
    )


def test_distinct_people_share_no_identifier() -> None:
    people = [demo_person(n) for n in range(3_000)]
    for attribute in ("rfc", "curp", "email", "phone", "app_user_id", "push_token", "messenger_id"):
        assert len({getattr(p, attribute) for p in people}) == len(people), attribute


class _Table:
    def __init__(self, event_ids: list[str]) -> None:
        self.ids = event_ids

    def event_ids(self) -> Counter[str]:
        return Counter(self.ids)


def _answer(kind: str, event_id: str, status: int = 200, stored: str = "stored", profile: str = "p1") -> Answer:
    planned = Planned(kind, "/v1/web/touchpoints", json.dumps({"event_id": event_id}).encode(), "WebApiKey", event_id)
    results = [{"event_id": event_id, "status": stored, "profile_id": profile}] if status == 200 else []
    return Answer(planned, status, 0.01, 0.0, results)


PROFILES: list[dict[str, Any]] = [{"state": {"S": "A"}, "version": {"N": "2"}, "classified_version": {"N": "2"}}]


def test_a_clean_run_has_no_violation() -> None:
    answers = [_answer("new", "e1"), _answer("retry", "e1", stored="duplicate"), _answer("bad", "b1", status=422)]
    assert verify(answers, _Table(["e1"]), PROFILES, report_total=1) == []


def test_every_loss_doubling_and_wrong_answer_is_a_violation() -> None:
    answers = [
        _answer("new", "lost"),
        _answer("new", "doubled"),
        _answer("new", "e5", status=502),
        _answer("known", "refused", status=400),
        _answer("bad", "stored-bad", status=422),
        _answer("bad", "accepted-bad"),
    ]
    profiles = [*PROFILES, {"version": {"N": "1"}}, {"version": {"N": "1"}}]

    violations = verify(answers, _Table(["doubled", "doubled", "stored-bad", "accepted-bad", "ghost"]), profiles, 4)

    assert any(v.startswith("1 answers were 5xx") for v in violations)
    assert any(v.startswith("1 valid touchpoints were refused") for v in violations)
    assert any(v.startswith("1 bad requests were not answered 4xx") for v in violations)
    assert "1 touchpoints answered 200 are not in the table (lost)" in violations
    assert "1 touchpoints are stored more than once" in violations
    assert "2 bad requests left an event in the table" in violations
    assert "1 events are in the table without a 200 for them (nor a lost answer)" in violations
    assert "2 of 3 profiles are not classified (the classifier is behind)" in violations
    assert "the table has 3 profiles, the answers named 1" in violations  # one more may come from the 502
    assert "the state report counts 4 profiles, the table has 3" in violations
