"""`python -m local_runner load`: the local runner under the load of a set of channels, then checked.

Posts N touchpoints over every channel's route, in each channel's own body shape (local_runner.commands.demo_data),
from C concurrent clients: new people, people already seen (their journey goes on on another channel),
a share of retries (the same event again, answered `duplicate`) and a share of bad input (answered 4xx).
Then it waits for the classifier and verifies that nothing was lost or stored twice:

- every touchpoint answered 200 is in the profile table exactly once (its event item, opened with its
  subject's key), and no other is;
- every 4xx stored nothing (no item carries a bad request's event id), and no good request got a 4xx;
- no 5xx; every profile is classified at its current version (or merged into another); every person planned
  is one live profile, and the state report's total is the number of live profiles.

Logins and confirmations carry their back end's proof (the stack's vouching key), as a channel sends them.

Reports throughput, latency percentiles (and the median of the first vs the last fifth and 1,000), the
runner's peak memory (RSS of its process group: the runner and its function containers) and status
codes; `--json` writes them for `make bench`. Exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any

import boto3
import requests

from local_runner.commands.demo import REPORT_ROUTE, Progress
from local_runner.commands.demo_data import Touch, demo_person, journey, returning, stack_secret, vouching_keys
from local_runner.emulator.principals import DEVELOPER, LocalPrincipal, sign
from local_runner.emulator.runner import LOCAL_CREDENTIALS
from local_runner.emulator.template import REPO_ROOT

# Which API key each channel's route takes (the template's `CHANNEL_API_KEY_ID`s, as /__health names them).
CHANNEL_KEYS = {
    "web": "WebApiKey",
    "store": "StoreApiKey",
    "app": "AppApiKey",
    "push": "PushApiKey",
    "email": "EmailApiKey",
    "sms": "SmsApiKey",
    "contact-center": "ContactCenterApiKey",
}
BAD_BODIES = (  # what a broken channel integration sends; each must be refused with a 4xx, storing nothing
    "not json",
    "missing_event_id",
    "invalid_email",
    "wrong_type",
)


# At most this many touchpoints of journeys begun wait to be sent: new and known people keep the same mix from
# the first fifth to the last (else the journeys pile up, and the last fifth is only their heavier endings).
JOURNEYS_PENDING = 40


@dataclass
class Planned:
    kind: str  # "new" | "known" | "retry" | "bad"
    path: str
    body: bytes
    api_key_name: str
    event_id: str | None
    # Sent once that earlier request was answered: a retry's original (as a channel retries), or the person's
    # previous touchpoint (a person's journey is in order; two channels racing for one new person is not load)
    after: int | None = None


@dataclass
class Answer:
    planned: Planned
    status: int
    seconds: float
    sent_at: float
    results: list[dict[str, Any]] = field(default_factory=list)


def plan(
    touchpoints: int,
    retry_share: float,
    bad_share: float,
    seed: int = 15,
    scenario: str = "channels",
    vouching_key: Callable[[str], bytes] | None = None,
    *,
    returns: int = 0,
) -> tuple[list[Planned], int]:
    """The requests to send, in order, and how many distinct people they are about.

    "channels": every channel, new and known people, retries and bad input; "web-signups": only new
    people signing up on the web, one after another (issue 15's first measurement). With `vouching_key`,
    a login or a confirmation carries its back end's proof, as the channel's real back end sends it. With
    `returns`, each person who can be recognised comes back that many times after their journey (`returning`).
    """
    if scenario == "web-signups":
        return [_good("new", journey(demo_person(6 * n))[0], vouching_key) for n in range(touchpoints)], touchpoints
    rng = random.Random(seed)  # noqa: S311 - a reproducible plan, not a secret
    planned: list[Planned] = []
    ongoing: list[_Journey] = []
    people = 0
    while len(planned) < touchpoints or ongoing:
        pending = sum(len(j.steps) for j in ongoing)
        # Near the end only journeys already begun go on, so that every person's journey is whole.
        finishing = len(planned) + pending >= touchpoints
        roll = rng.random()
        if not finishing and roll < bad_share:
            planned.append(_bad(rng.choice(BAD_BODIES), demo_person(rng.randrange(64))))
            continue
        if not finishing and roll < bad_share + retry_share and len(planned) > 50:
            index = rng.randrange(len(planned) - 20)
            original = planned[index]
            if original.kind in ("new", "known"):
                planned.append(
                    Planned("retry", original.path, original.body, original.api_key_name, original.event_id, index)
                )
                continue
        if ongoing and (finishing or pending >= JOURNEYS_PENDING or rng.random() < 0.5):
            index = rng.randrange(len(ongoing))
            person = ongoing[index]
            planned.append(_good("known", person.steps.pop(0), vouching_key, after=person.last))
            person.last = len(planned) - 1
            if not person.steps:
                ongoing.pop(index)
            continue
        steps = journey(demo_person(people)) + returning(demo_person(people), returns)
        people += 1
        planned.append(_good("new", steps[0], vouching_key))
        if steps[1:]:
            ongoing.append(_Journey(steps[1:], len(planned) - 1))
    return planned, people


@dataclass
class _Journey:
    """A person's touchpoints not yet planned, and where in the plan their last one is."""

    steps: list[Touch]
    last: int


def _good(kind: str, touch: Touch, vouching_key: Callable[[str], bytes] | None, after: int | None = None) -> Planned:
    body = touch.signed(vouching_key)
    return Planned(kind, touch.path, json.dumps(body).encode(), CHANNEL_KEYS[touch.channel], body["event_id"], after)


def _bad(how: str, person: Any) -> Planned:
    touch = journey(person)[0]
    body = dict(touch.body)
    event_id: str | None = f"bad-{how}-{os.urandom(6).hex()}"
    body["event_id"] = event_id
    if how == "not json":
        return Planned(
            "bad", touch.path, f'{{"event_id": "{event_id}", '.encode(), CHANNEL_KEYS[touch.channel], event_id
        )
    if how == "missing_event_id":
        del body["event_id"]
        event_id = None
    elif how == "invalid_email":
        body["customer" if "customer" in body else "recipient"] = (
            {"email": "not-an-email"} if "customer" in body else "not-an-email"
        )
    else:
        body["occurred_at"] = {"not": "a time"}
    return Planned("bad", touch.path, json.dumps(body).encode(), CHANNEL_KEYS[touch.channel], event_id)


def group_memory_bytes(pgid: int) -> tuple[int, int]:
    """Memory of every process in a process group (the runner and its function containers): PSS and RSS.

    PSS shares each page among the processes that map it (containers forked from one zygote share
    their imported libraries), so it is what the group really holds; RSS counts shared pages in
    every process.
    """
    pss = rss = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            rollup = Path(entry.path, "smaps_rollup").read_text()
        except (OSError, IndexError):
            continue  # gone meanwhile
        for line in rollup.splitlines():
            name, _, value = line.partition(":")
            if name in ("Pss", "Rss"):
                kib = int(value.split()[0]) * 1024
                pss, rss = (pss + kib, rss) if name == "Pss" else (pss, rss + kib)
    return pss, rss


class MemoryWatch(threading.Thread):
    """Samples the runner's process group every second; `peak` is the largest PSS seen (`peak_rss`: RSS)."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(name="memory-watch", daemon=True)
        self.pgid = os.getpgid(pid) if pid is not None and Path(f"/proc/{pid}").exists() else None
        self.peak = self.peak_rss = 0
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while self.pgid is not None and not self._stop_event.is_set():
            pss, rss = group_memory_bytes(self.pgid)
            self.samples.append((time.monotonic(), pss))
            self.peak, self.peak_rss = max(self.peak, pss), max(self.peak_rss, rss)
            self._stop_event.wait(1.0)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=2)


def send(url: str, keys: dict[str, str], planned: list[Planned], clients: int, out: IO[str]) -> list[Answer]:
    answers: list[Answer | None] = [None] * len(planned)
    answered = [threading.Event() for _ in planned]
    progress = Progress(f"posting ({clients} clients)", len(planned), out)
    lock = threading.Lock()
    next_index = iter(range(len(planned)))
    done = Counter[str]()

    def client() -> None:
        with requests.Session() as http:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                request = planned[index]
                if request.after is not None:
                    answered[request.after].wait()  # an earlier index, already taken by a client
                started = time.monotonic()
                try:
                    response = http.post(
                        url + request.path,
                        data=request.body,
                        headers={"Content-Type": "application/json", "x-api-key": keys[request.api_key_name]},
                        timeout=60,
                    )
                    status, body = response.status_code, _json(response)
                except requests.RequestException:
                    status, body = 0, {}
                answer = Answer(request, status, time.monotonic() - started, started, list(body.get("results") or []))
                answered[index].set()
                with lock:
                    answers[index] = answer
                    done["n"] += 1
                    done[f"{status // 100}xx" if status else "failed"] += 1
                    if done["n"] % 20 == 0 or done["n"] == len(planned):
                        progress.update(done["n"], f"5xx {done['5xx']} failed {done['failed']}")

    threads = [threading.Thread(target=client, name=f"client-{n}", daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    progress.finish()
    return [answer for answer in answers if answer is not None]


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


LAYER = REPO_ROOT / "shared"


@cache
def _layer_item(name: str) -> Any:
    """The layer's module of one stored item (`touchpoints.items.<name>`): its one schema, read here too."""
    if str(LAYER) not in sys.path:
        sys.path.append(str(LAYER))  # the runner's own process has no layer on its path, the functions do
    return importlib.import_module(f"touchpoints.items.{name}")


class Table:
    """The profile table, read through the runner's AWS endpoint (as /__health names it)."""

    def __init__(self, health: dict[str, Any]) -> None:
        self.name = health["tables"]["ProfileTable"]
        self.vault = health["tables"]["KeyVaultTable"]
        self.branch_keys = health["tables"]["BranchKeyTable"]
        self._wrapper: Any = None
        endpoint = {
            "endpoint_url": health["aws_endpoint"],
            "region_name": health["region"],
            "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
        self.client = boto3.client("dynamodb", **endpoint)
        self.kms = boto3.client("kms", **endpoint)
        self.secretsmanager = boto3.client("secretsmanager", **endpoint)
        self.unreadable_events = 0  # found by the last `opened_events`

    def scan(self, **filters: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.name, "ConsistentRead": True, **filters}
        while True:
            page = self.client.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def profiles(self) -> list[dict[str, Any]]:
        return self.scan(FilterExpression="sk = :p", ExpressionAttributeValues={":p": {"S": "PROFILE"}})

    def event_ids(self) -> Counter[str]:
        """The event id of every event item, opened with its subject's key (item keys name no event: items.event)."""
        return Counter(metadata["event_id"] for _, metadata in self.opened_events())

    def opened_events(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every event item with its metadata (channel, event id, ...), opened with its subject's key."""
        event_item = _layer_item("event")
        events = self.scan(
            FilterExpression="begins_with(sk, :e)", ExpressionAttributeValues={":e": {"S": event_item.SK_PREFIX}}
        )
        ciphers: dict[str, Any] = {}  # None: the subject's key is gone
        opened = []
        self.unreadable_events = 0
        for item in events:
            subject_id = item[event_item.SUBJECT_ID]["S"]
            if subject_id not in ciphers:
                vault = self.client.get_item(TableName=self.vault, Key={"pk": {"S": f"SUBJECT#{subject_id}"}})
                ciphers[subject_id] = None if "Item" not in vault else self._cipher(subject_id, vault["Item"])
            if (cipher := ciphers[subject_id]) is None:
                self.unreadable_events += 1  # its subject's key is gone: the event is lost
                continue
            opened.append((item, event_item.metadata(item, cipher)))
        return opened

    def _cipher(self, subject_id: str, vault: dict[str, Any]) -> Any:
        """The subject's cipher, its data key unwrapped as the functions do (under its branch key, or by KMS)."""
        from touchpoints.adapters.branch_keys import DynamoBranchKeys
        from touchpoints.adapters.kms import KmsKeyWrapper
        from touchpoints.privacy.branch_keys import BranchKeyCache, HierarchicalKeyWrapper
        from touchpoints.privacy.cipher import SubjectCipher

        if self._wrapper is None:
            source = DynamoBranchKeys(self.client, self.kms, self.branch_keys, "alias/DataKey")
            self._wrapper = HierarchicalKeyWrapper(BranchKeyCache(source), KmsKeyWrapper(self.kms, "alias/DataKey"))
        return SubjectCipher(subject_id, self._wrapper.unwrap(subject_id, bytes(vault["wrapped_key"]["B"])))


def _merged_into(item: dict[str, Any]) -> str | None:
    return item.get(_layer_item("profile").MERGED_INTO, {}).get("S")


def _settled(item: dict[str, Any]) -> bool:
    """Classified at its current version; or absorbed by a merge that has finished (a tombstone is not classified)."""
    profile = _layer_item("profile")
    if _merged_into(item):
        return item.get(profile.STATUS, {}).get("S") == profile.MERGED
    version = item.get(profile.VERSION, {}).get("N")
    return profile.STATE in item and item.get(profile.CLASSIFIED_VERSION, {}).get("N") == version


def wait_until_classified(url: str, table: Table, stall: float, out: IO[str]) -> list[dict[str, Any]]:
    """Until the runner is idle and every profile is settled (`_settled`).

    Gives up after `stall` s without progress: no function invoked meanwhile, and no more profiles settled.
    """
    progress = Progress("classifier catching up", 1, out)
    profiles: list[dict[str, Any]] = []
    best, invocations, last_progress = -1, -1, time.monotonic()
    while time.monotonic() - last_progress < stall:
        health = requests.get(url + "/__health", timeout=30).json()
        if health["invocations"] > invocations:
            invocations, last_progress = health["invocations"], time.monotonic()
        # A scan holds the embedded moto's lock for a while: only once the runner says it is idle.
        if not health["idle"]:
            time.sleep(2.0)
            continue
        profiles = table.profiles()
        settled = sum(1 for item in profiles if _settled(item))
        progress.total = max(len(profiles), 1)
        progress.update(settled)
        if settled == len(profiles):
            progress.finish()
            return profiles
        if settled > best:
            best, last_progress = settled, time.monotonic()
        time.sleep(2.0)
    progress.finish("(no progress: given up)")
    return profiles or table.profiles()


def state_report_total(url: str) -> int | None:
    developer = LocalPrincipal(DEVELOPER, f"local-{DEVELOPER}", f"local-secret-{DEVELOPER}", arn="", user_id="")
    response = requests.get(url + REPORT_ROUTE, headers=sign(developer, "GET", url + REPORT_ROUTE), timeout=120)
    if response.status_code != 200:
        return None
    return sum(int(count) for count in response.json()["by_state"].values())


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


MARKS = (100, 200, 300, 500, 1_000, 2_000, 5_000, 10_000, 20_000)


def by_mark(answers: list[Answer], samples: list[tuple[float, int]]) -> list[dict[str, Any]]:
    """At 100, 200, 300... touchpoints so far: the median latency of the 50 before, and the memory then."""
    ordered = sorted(answers, key=lambda a: a.sent_at)
    rows = []
    for mark in (m for m in MARKS if m <= len(ordered)):
        window = ordered[max(0, mark - 50) : mark]
        at = window[-1].sent_at + window[-1].seconds
        memory = [pss for when, pss in samples if when <= at]
        rows.append(
            {
                "touchpoints": mark,
                "median_latency_ms": round(statistics.median(a.seconds for a in window) * 1000, 1),
                "memory_mb": round(memory[-1] / 2**20) if memory else None,
            }
        )
    return rows


def latency_ms(answers: list[Answer]) -> dict[str, float]:
    ordered = sorted(answers, key=lambda a: a.sent_at)
    seconds = [a.seconds for a in ordered]
    fifth = max(1, len(seconds) // 5)
    thousand = min(1000, len(seconds))
    figures = {
        "p50": _percentile(seconds, 0.5),
        "p90": _percentile(seconds, 0.9),
        "p99": _percentile(seconds, 0.99),
        "max": max(seconds, default=0.0),
        "median_first_fifth": statistics.median(seconds[:fifth]) if seconds else 0.0,
        "median_last_fifth": statistics.median(seconds[-fifth:]) if seconds else 0.0,
        "median_first_1000": statistics.median(seconds[:thousand]) if seconds else 0.0,
        "median_last_1000": statistics.median(seconds[-thousand:]) if seconds else 0.0,
    }
    return {name: round(value * 1000, 1) for name, value in figures.items()}


def verify(
    answers: list[Answer], table: Table, profiles: list[dict[str, Any]], report_total: int | None, people: int
) -> list[str]:
    """Every way the run lost, doubled or wrongly answered something, in words (no personal data).

    A private channel's answer says `stored` or `duplicate` and names the profile; a public one (web, app) says
    `accepted` and names none (issue 17): its touchpoints are checked in the table only. Every person planned
    ends as one live profile (merges leave tombstones), which catches a person split in two or a profile lost.
    """
    violations = _answer_violations(answers)
    good = [a for a in answers if a.planned.kind != "bad"]
    stored_answers = Counter[str]()
    answered: set[str] = set()
    privately_answered: set[str] = set()
    profile_ids: set[str] = set()
    # An attempt whose answer was lost (5xx, no answer) may have stored its touchpoint: its retry says `duplicate`.
    unanswered = {a.planned.event_id for a in good if a.status >= 500 or a.status == 0}
    for answer in good:
        for result in answer.results if answer.status == 200 else []:
            answered.add(result["event_id"])
            if result["status"] == "accepted":
                continue
            privately_answered.add(result["event_id"])
            profile_ids.add(result["profile_id"])
            stored_answers[result["event_id"]] += result["status"] == "stored"
    in_table = table.event_ids()
    bad_ids = {a.planned.event_id for a in answers if a.planned.kind == "bad" and a.planned.event_id}
    live = [p for p in profiles if not _merged_into(p)]
    in_table_profiles = {p[_layer_item("profile").SUBJECT_ID]["S"] for p in profiles}
    checks = {
        "touchpoints answered 200 are not in the table (lost)": len(answered - set(in_table)),
        "touchpoints are stored more than once": sum(1 for n in in_table.values() if n > 1),
        "touchpoints were answered `stored` more than once": sum(1 for n in stored_answers.values() if n > 1),
        "touchpoints were only ever answered `duplicate`, no attempt of them lost": sum(
            1 for e in privately_answered if stored_answers[e] == 0 and e not in unanswered
        ),
        "bad requests left an event in the table": len(bad_ids & set(in_table)),
        "events are in the table without a 200 for them (nor a lost answer)": len(
            set(in_table) - answered - bad_ids - unanswered
        ),
        "profiles named by an answer are not in the table": len(profile_ids - in_table_profiles),
        "events are in the table without their subject's key (unreadable)": table.unreadable_events,
        f"of {len(profiles)} profiles are not classified, or their merge not finished (the stream is behind)": sum(
            1 for p in profiles if not _settled(p)
        ),
    }
    violations += [f"{count} {what}" for what, count in checks.items() if count]
    # An attempt whose answer was lost may have created a profile, or been a person's only touchpoint.
    if not people - len(unanswered) <= len(live) <= people + len(unanswered):
        violations.append(f"the table has {len(live)} live profiles for {people} people")
    if report_total is None:
        violations.append(f"GET {REPORT_ROUTE} did not answer 200")
    elif report_total != len(live):
        violations.append(f"the state report counts {report_total} profiles, the table has {len(live)} live ones")
    return violations


def _answer_violations(answers: list[Answer]) -> list[str]:
    violations = []
    failed = [a for a in answers if a.status >= 500 or a.status == 0]
    if failed:
        violations.append(f"{len(failed)} answers were 5xx or no answer at all (first: {failed[0].status})")
    if refused := [a for a in answers if a.planned.kind != "bad" and 400 <= a.status < 500]:
        violations.append(f"{len(refused)} valid touchpoints were refused with a 4xx (first: {refused[0].status})")
    if accepted := [a for a in answers if a.planned.kind == "bad" and not 400 <= a.status < 500]:
        violations.append(f"{len(accepted)} bad requests were not answered 4xx (first: {accepted[0].status})")
    return violations


@contextmanager
def _runner(url: str | None, max_containers: int, log: Path | None) -> Iterator[str]:
    if url:
        yield url.rstrip("/")
        return
    from local_runner.emulator.harness import served

    arguments = ["--quiet", "--warm", "--max-containers", str(max_containers)]
    with served(arguments, log=log) as api:
        print(f"  started a runner on {api.url}; its output: {api.log}", file=sys.stderr)
        yield api.url


def run(args: argparse.Namespace, out: IO[str] = sys.stdout) -> dict[str, Any]:
    with _runner(args.url, args.max_containers, args.log) as url:
        health = requests.get(url + "/__health", timeout=30).json()
        keys = {name: str(value) for name, value in health["api_keys"].items()}
        table = Table(health)
        vouching_key = vouching_keys(stack_secret(table.secretsmanager))
        planned, people = plan(
            args.touchpoints, args.retry_share, args.bad_share, args.seed, args.scenario, vouching_key
        )
        watch = MemoryWatch(health.get("pid") or args.runner_pid)
        watch.start()
        started = time.monotonic()
        answers = send(url, keys, planned, args.clients, sys.stderr)
        sending = time.monotonic() - started
        profiles = wait_until_classified(url, table, 120.0, sys.stderr)
        caught_up = time.monotonic() - started
        report_total = state_report_total(url)
        violations = verify(answers, table, profiles, report_total, people)
        watch.stop()
    latency = latency_ms(answers)
    results = {
        "touchpoints": len(answers),
        "clients": args.clients,
        "kinds": dict(Counter(a.planned.kind for a in answers)),
        "people_planned": people,
        "profiles": sum(1 for p in profiles if not _merged_into(p)),
        "merged_profiles": sum(1 for p in profiles if _merged_into(p)),
        "statuses": {str(status): n for status, n in sorted(Counter(a.status for a in answers).items())},
        "sending_seconds": round(sending, 1),
        "until_classified_seconds": round(caught_up, 1),
        "touchpoints_per_second": round(len(answers) / sending, 1) if sending else 0.0,
        "latency_ms": latency,
        "latency_growth_last_vs_first_fifth": round(latency["median_last_fifth"] / latency["median_first_fifth"], 2)
        if latency["median_first_fifth"]
        else None,
        "latency_growth_last_vs_first_1000": round(latency["median_last_1000"] / latency["median_first_1000"], 2)
        if latency["median_first_1000"]
        else None,
        "runner_peak_memory_mb": round(watch.peak / 2**20) if watch.pgid is not None else None,
        "runner_peak_rss_mb": round(watch.peak_rss / 2**20) if watch.pgid is not None else None,
        "by_mark": by_mark(answers, watch.samples),
        "memory_samples_mb": [round(rss / 2**20) for _, rss in watch.samples[:: max(1, len(watch.samples) // 20)]],
        "violations": violations,
    }
    if (
        args.max_latency_growth is not None
        and (results["latency_growth_last_vs_first_fifth"] or 0) > args.max_latency_growth
    ):
        violations.append(
            f"median latency grew {results['latency_growth_last_vs_first_fifth']}x from the first to the last fifth"
            f" (at most {args.max_latency_growth}x allowed)"
        )
    print_summary(results, out)
    return results


def print_summary(results: dict[str, Any], out: IO[str]) -> None:
    latency = results["latency_ms"]
    print(
        f"\n{results['touchpoints']} touchpoints from {results['clients']} clients in {results['sending_seconds']} s: "
        f"{results['touchpoints_per_second']} touchpoints/s ({results['kinds']})",
        file=out,
    )
    print(
        f"latency ms: p50 {latency['p50']}  p90 {latency['p90']}  p99 {latency['p99']}  max {latency['max']}",
        file=out,
    )
    print(
        f"median ms: first fifth {latency['median_first_fifth']} -> last fifth {latency['median_last_fifth']} "
        f"({results['latency_growth_last_vs_first_fifth']}x); first 1,000 {latency['median_first_1000']} -> "
        f"last 1,000 {latency['median_last_1000']} ({results['latency_growth_last_vs_first_1000']}x)",
        file=out,
    )
    peak, rss = results["runner_peak_memory_mb"], results["runner_peak_rss_mb"]
    memory = "unknown (not on this machine)" if peak is None else f"{peak} MB PSS ({rss} MB summing each RSS)"
    print(f"runner peak memory (runner + its containers): {memory}", file=out)
    print(f"status codes: {results['statuses']}", file=out)
    print(
        f"profiles: {results['profiles']} live, {results['merged_profiles']} merged into another (people planned "
        f"{results['people_planned']}); classifier caught up "
        f"{results['until_classified_seconds']} s after the first request",
        file=out,
    )
    for row in results["by_mark"]:
        print(
            f"  at {row['touchpoints']:>6,} touchpoints: median latency {row['median_latency_ms']} ms, "
            f"memory {row['memory_mb']} MB",
            file=out,
        )
    if results["violations"]:
        print("VIOLATIONS:", file=out)
        for violation in results["violations"]:
            print(f"  - {violation}", file=out)
    else:
        print(
            "verified: nothing lost, nothing stored twice, every 4xx stored nothing, one profile per person, all"
            " classified",
            file=out,
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--touchpoints", type=int, default=10_000, help="requests to send (default 10,000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--retry-share", type=float, default=0.05, help="share of retries of a sent touchpoint")
    parser.add_argument("--bad-share", type=float, default=0.03, help="share of bad input (must get a 4xx)")
    parser.add_argument("--url", help="an already running runner (default: start one, stop it at the end)")
    parser.add_argument("--max-containers", type=int, default=1, help="containers per function of the runner started")
    parser.add_argument("--runner-pid", type=int, help="with --url: the runner's pid, if its /__health has none")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument(
        "--scenario", choices=("channels", "web-signups"), default="channels", help="web-signups: only new web sign-ups"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here (for make bench)")
    parser.add_argument("--log", type=Path, help="where the started runner's output goes")
    parser.add_argument(
        "--max-latency-growth",
        type=float,
        help="fail if the last fifth's median latency is this many times the first's",
    )


def main(args: argparse.Namespace) -> int:
    results = run(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if results["violations"] else 0
