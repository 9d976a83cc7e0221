"""`make smoke [STACK=<name>]`: one synthetic person through a deployed stack, or the local runner.

Reads where everything is (a stack's outputs, or the local runner's health), reads the state report,
posts one touchpoint on every channel for a synthetic person (`demo_data.synthetic_person`: nobody
real), waits until the report counts the person's profile as classified, reads the report again,
files an erasure for the person (without suppression, so nothing of the run stays behind) and waits
until it is completed. Each step is printed with its time; any failure ends the run with exit 1 and
a message that says what did not happen. Personal values are posted, never printed.

Credentials (a stack): the caller's own (AWS_PROFILE, environment...) read the state report, which
needs `execute-api:Invoke` on it; the compliance routes are called as the stack's
ComplianceOperatorRole: with the caller's credentials if they are already a session of that role,
else through sts:AssumeRole, with MFA when MFA_SERIAL is set (the code from MFA_CODE or a prompt).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import boto3
import requests
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from local_runner.commands.demo_data import (
    DemoPerson,
    Touch,
    every_channel,
    stack_secret,
    synthetic_person,
    vouching_keys,
)
from local_runner.emulator.principals import DEVELOPER, sign_with
from local_runner.emulator.runner import LOCAL_CREDENTIALS
from local_runner.emulator.template import TEMPLATE_PATH, functions, load

LOCAL = "local"
OPERATOR_ROLE = "ComplianceOperatorRole"
REPORT_ROUTE = "/v1/reports/profile-states"
ERASURE_ROUTE = "/v1/compliance/erasures"
EXPECTED_STATE = "A"  # every channel together gives the person identity, contactability and traces
ORIGIN = "web"  # every_channel() starts on the web

T = TypeVar("T")


class SmokeFailed(Exception):
    """A step did not do what it should; the message says what, without personal data."""


@dataclass(frozen=True)
class Target:
    """Where the smoke test runs and with which credentials."""

    description: str
    api_url: str  # base URL; routes are appended as in the template (/v1/...)
    region: str
    channel_keys: Mapping[str, str]  # channel path segment -> API key value
    reader: Credentials  # signs the state report
    operator: Credentials  # signs the compliance routes: the compliance role or one of its sessions
    # channel -> its vouching key, to sign the app's login as the app's back end would (policies/trust.yaml)
    vouching_key: Callable[[str], bytes] | None = None


def channel_api_keys(template: Mapping[str, Any]) -> dict[str, str]:
    """Channel path segment -> logical id of the API key its function trusts, from the template."""
    keys = {}
    for spec in functions(template):
        key = spec.environment.get("CHANNEL_API_KEY_ID")
        for route in spec.routes:
            if isinstance(key, dict) and "Ref" in key and route.path.endswith("/touchpoints"):
                keys[route.path.split("/")[2]] = str(key["Ref"])
    return keys


# ---------------------------------------------------------------- targets


def local_target(health: Mapping[str, Any], url: str) -> Target:
    """The local runner: its API keys and its deterministic IAM principals (see principals.py)."""
    keys = channel_api_keys(load(TEMPLATE_PATH))
    return Target(
        description=f"the local runner at {url}",
        api_url=url,
        region=str(health.get("region", "us-east-1")),
        channel_keys={channel: str(health["api_keys"][logical]) for channel, logical in keys.items()},
        reader=Credentials(f"local-{DEVELOPER}", f"local-secret-{DEVELOPER}"),
        operator=Credentials(f"local-{OPERATOR_ROLE}", f"local-secret-{OPERATOR_ROLE}"),
        vouching_key=vouching_keys(
            stack_secret(
                boto3.client(
                    "secretsmanager",
                    endpoint_url=str(health["aws_endpoint"]),
                    region_name=str(health.get("region", "us-east-1")),
                    aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                )
            )
        ),
    )


def stack_target(stack: str, session: Any = None) -> Target:
    """A deployed stack: its outputs, its keys' values and the operator's credentials."""
    session = session or boto3.session.Session()
    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        apigateway = session.client("apigateway")
        channel_keys = {}
        for channel, logical in channel_api_keys(load(TEMPLATE_PATH)).items():
            if f"{logical}Id" not in outputs:
                raise SmokeFailed(f"stack {stack} has no output {logical}Id: deploy this template first")
            key = apigateway.get_api_key(apiKey=outputs[f"{logical}Id"], includeValue=True)
            channel_keys[channel] = str(key["value"])
        frozen = session.get_credentials().get_frozen_credentials()
        reader = Credentials(frozen.access_key, frozen.secret_key, frozen.token)
        operator = _operator_credentials(session, outputs[f"{OPERATOR_ROLE}Arn"], reader)
    except (BotoCoreError, ClientError, KeyError, AttributeError) as error:
        raise SmokeFailed(
            f"cannot read stack {stack}: {error} (credentials, region: AWS_PROFILE, AWS_REGION)"
        ) from error
    return Target(
        f"stack {stack} ({session.region_name})",
        outputs["ApiUrl"],
        session.region_name,
        channel_keys,
        reader,
        operator,
        _stack_vouching_key(session, stack),
    )


def _stack_vouching_key(session: Any, stack: str) -> Callable[[str], bytes]:
    """The channels' vouching keys, derived from the stack's tokenization secret, read on first use (it needs
    secretsmanager:GetSecretValue on it, which a deployer has and the operator role does not)."""
    keys: list[Callable[[str], bytes]] = []

    def vouching_key(channel: str) -> bytes:
        if not keys:
            try:
                secret = session.client("cloudformation").describe_stack_resource(
                    StackName=stack, LogicalResourceId="TokenizationSecret"
                )["StackResourceDetail"]["PhysicalResourceId"]
                value = session.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
            except (BotoCoreError, ClientError) as error:
                raise SmokeFailed(f"cannot read the tokenization secret to sign the app's login: {error}") from error
            keys.append(vouching_keys(str(value)))
        return keys[0](channel)

    return vouching_key


def _operator_credentials(session: Any, role_arn: str, own: Credentials) -> Credentials:
    sts = session.client("sts")
    caller = str(sts.get_caller_identity()["Arn"])
    _, partition, _, _, account, _ = role_arn.split(":", 5)
    session_prefix = f"arn:{partition}:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[1]}/"
    if caller == role_arn or caller.startswith(session_prefix):
        return own  # already the operator (a profile with role_arn and mfa_serial does this)
    mfa: dict[str, str] = {}
    if serial := os.environ.get("MFA_SERIAL"):
        code = os.environ.get("MFA_CODE") or getpass.getpass(f"MFA code for {serial}: ")
        mfa = {"SerialNumber": serial, "TokenCode": code}
    try:
        assumed = sts.assume_role(
            RoleArn=role_arn, RoleSessionName=f"smoke-{int(time.time())}", DurationSeconds=900, **mfa
        )
    except ClientError as error:
        raise SmokeFailed(
            f"cannot assume {role_arn} ({error}); it needs MFA: set MFA_SERIAL (and MFA_CODE), "
            "or run with a profile that is already a session of the role"
        ) from error
    c = assumed["Credentials"]
    return Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


# ---------------------------------------------------------------- the run


class Smoke:
    def __init__(self, target: Target, out: IO[str], poll: float = 1.0, started: float | None = None) -> None:
        self.target, self.out, self.poll = target, out, poll
        self.http = requests.Session()
        self.started = time.monotonic() if started is None else started

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, str]]:
        """Times one step and prints `[total] name (step time): detail`; a failure names the step."""
        began = time.monotonic()
        result = {"detail": ""}
        try:
            yield result
        except (requests.RequestException, ValueError, KeyError) as error:
            raise SmokeFailed(f"{name}: {type(error).__name__}: {error}") from error
        except SmokeFailed as failure:
            raise SmokeFailed(f"{name}: {failure}") from failure
        now = time.monotonic()
        print(
            f"  [{now - self.started:6.1f} s] {name} ({now - began:.1f} s): {result['detail']}",
            file=self.out,
            flush=True,
        )

    def signed(self, credentials: Credentials, method: str, path: str, body: Any = None) -> requests.Response:
        url = self.target.api_url + path
        data = b"" if body is None else json.dumps(body).encode()
        headers = sign_with(credentials, method, url, data, self.target.region)
        return self.http.request(method, url, data=data, headers=headers, timeout=30)

    def report(self) -> dict[str, Any]:
        response = self.signed(self.target.reader, "GET", REPORT_ROUTE)
        _expect(response, 200, f"GET {REPORT_ROUTE}")
        return dict(response.json())

    def post(self, touch: Touch) -> dict[str, Any]:
        response = self.http.post(
            self.target.api_url + touch.path,
            data=json.dumps(touch.signed(self.target.vouching_key)).encode(),
            headers={"Content-Type": "application/json", "x-api-key": self.target.channel_keys[touch.channel]},
            timeout=30,
        )
        _expect(response, 200, f"POST {touch.path}")
        return dict(response.json()["results"][0])

    def wait(self, what: str, timeout: float, check: Callable[[], T | None]) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise SmokeFailed(f"{what} did not happen within {timeout:.0f} s")
            time.sleep(self.poll)

    def run(self, person: DemoPerson, case: str, timeout: float) -> None:
        touches = every_channel(person)
        missing = set(self.target.channel_keys) - {t.channel for t in touches}
        if missing:
            raise SmokeFailed(f"no synthetic touchpoint for channel(s) {sorted(missing)}: add them to every_channel()")

        with self.step("state report before") as shown:
            before = _counted(self.report())
            shown["detail"] = f"{ORIGIN}-origin profiles in state {EXPECTED_STATE}: {before}"

        with self.step(f"touchpoints on {len(touches)} channels") as shown:
            results = [self.post(touch) for touch in touches]
            # Public channels (web, app) are only told `accepted`; the private ones say which profile
            profiles = {r["profile_id"] for r in results if "profile_id" in r}
            if len(profiles) != 1:
                raise SmokeFailed(f"one person's touchpoints landed on {len(profiles)} profiles")
            (profile,) = profiles
            shown["detail"] = f"{', '.join(t.channel for t in touches)}: all stored on profile {profile}"

        with self.step("classified") as shown:

            def counted_once_more() -> int | None:
                now = _counted(self.report())
                return now if now > before else None

            after = self.wait(
                f"the report counting one more {ORIGIN}-origin profile in state A", timeout, counted_once_more
            )
            shown["detail"] = (
                f"the report counts {ORIGIN}-origin profiles in state {EXPECTED_STATE}: {before} → {after}"
            )

        with self.step("state report") as shown:
            report = self.report()
            states = " ".join(f"{s} {n}" for s, n in sorted(report["by_state"].items()) if n)
            shown["detail"] = f"active profiles {report['total']} ({states}), rules {report['rules_version']}"

        with self.step("erasure filed") as shown:
            erasure = {
                "subject": {"email": person.email},
                "regulation": "gdpr",
                "case_reference": case,
                "suppress": False,
            }
            response = self.signed(self.target.operator, "POST", ERASURE_ROUTE, erasure)
            _expect(response, 202, f"POST {ERASURE_ROUTE}")
            request = response.json()
            shown["detail"] = (
                f"{request['request_id']} ({request['regulation']}, case {case}, deadline {request['deadline']})"
            )

        with self.step("erasure completed") as shown:
            path = f"/v1/compliance/requests/{request['request_id']}"

            def completed() -> dict[str, Any] | None:
                status = self.signed(self.target.operator, "GET", path)
                _expect(status, 200, f"GET {path}")
                body = dict(status.json())
                if body["state"] == "failed":
                    raise SmokeFailed(f"the erasure failed at step {body['step']}: {body['failure']}")
                return body if body["state"] == "completed" else None

            done = self.wait("the erasure's completion", timeout, completed)
            if done["subject_id"] != profile or done["counts"].get("keys_destroyed") != 1:
                raise SmokeFailed(f"the erasure did not destroy the profile's key: {done['counts']}")
            shown["detail"] = ", ".join(f"{k} {v}" for k, v in sorted(done["counts"].items()))


def _counted(report: Mapping[str, Any]) -> int:
    return int(report["by_origin"].get(ORIGIN, {}).get(EXPECTED_STATE, 0))


def _expect(response: requests.Response, status: int, what: str) -> None:
    if response.status_code != status:
        try:
            body = response.json()
            reason = (body.get("error") or {}).get("code") or body.get("message") or ""
        except ValueError:
            reason = response.text[:200]
        raise SmokeFailed(f"{what} answered {response.status_code} {reason} (expected {status})")


def run(
    stack: str | None = None, run_id: str | None = None, timeout: float | None = None, out: IO[str] = sys.stdout
) -> int:
    """The smoke test against a stack, or against a local runner it starts when `stack` is None or "local"."""
    from local_runner.emulator.harness import RunnerFailed, served

    run_id = run_id or uuid.uuid4().hex[:10]
    person, case = synthetic_person(run_id), f"SMOKE-{run_id}"
    started = time.monotonic()
    try:
        if stack in (None, LOCAL):
            print("Smoke test against the local runner (template.yaml, embedded AWS)", file=out, flush=True)
            with served() as api:
                target = local_target(api.health, api.url)
                print(f"  [{time.monotonic() - started:6.1f} s] {target.description} ready", file=out)
                print(f"  run {run_id}: one synthetic person on every channel", file=out)
                try:
                    Smoke(target, out, poll=0.25, started=started).run(person, case, timeout or 60)
                except SmokeFailed:
                    print(f"  runner log: {api.log}", file=out)
                    raise
        else:
            target = stack_target(stack)
            print(f"Smoke test against {target.description}: {target.api_url}", file=out, flush=True)
            print(f"  run {run_id}: one synthetic person on every channel", file=out)
            Smoke(target, out, started=started).run(person, case, timeout or 180)
    except (SmokeFailed, RunnerFailed) as failure:
        print(f"SMOKE FAILED after {time.monotonic() - started:.1f} s: {failure}", file=sys.stderr, flush=True)
        return 1
    print(f"SMOKE PASSED in {time.monotonic() - started:.1f} s", file=out, flush=True)
    return 0
