"""Where the API is and whose credentials sign for it: a deployed stack (the operator's own AWS profile,
assuming the compliance role with MFA) or the local runner (its documented local operator keys)."""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from compliance_cli.errors import CredentialsExpired, NoCredentials, ToolError

EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"})
LOCAL_OPERATOR = "ComplianceOperatorRole"  # the template's role; the runner gives it local keys
LOCAL_REGION = "us-east-1"
_API_HOST = re.compile(r"^https://[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com")


@dataclass(frozen=True)
class Target:
    """The API's base URL and the credentials and region that sign requests to it."""

    url: str
    region: str
    credentials: ReadOnlyCredentials
    caller: str  # for the operator's eyes: which identity signs


def local_target(url: str, principal: str = LOCAL_OPERATOR) -> Target:
    """The local runner verifies signatures made with its deterministic keys (docs/contributors.md)."""
    keys = Credentials(f"local-{principal}", f"local-secret-{principal}").get_frozen_credentials()
    return Target(url.rstrip("/"), LOCAL_REGION, keys, f"local principal {principal}")


def _sdk_error(error: Exception, doing: str) -> ToolError:
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in EXPIRED_CODES:
            return CredentialsExpired(
                f"your AWS credentials have expired ({code}) while {doing}; refresh them "
                "(e.g. `aws sso login` or a new session) and run the command again",
                code,
            )
        if code in ("AccessDenied", "AccessDeniedException"):
            return NoCredentials(f"AWS refused {doing} ({code}): check your profile, role and MFA code", code)
        return ToolError(f"AWS refused {doing} ({code})", code)
    if isinstance(error, NoCredentialsError):
        return NoCredentials("no AWS credentials found: pass --profile or configure your default credentials")
    return ToolError(f"{doing} failed: {type(error).__name__}")


def stack_outputs(session: Any, stack: str) -> dict[str, str]:
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError) as error:
        raise _sdk_error(error, f"reading the outputs of stack {stack}") from error
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def mfa_serial_of(session: Any, given: str | None) -> str | None:
    """--mfa-serial, else the profile's `mfa_serial` (as the AWS CLI reads it)."""
    if given:
        return given
    serial = session._session.get_scoped_config().get("mfa_serial")  # botocore keeps it only there
    return str(serial) if serial else None


def assume_operator_role(
    session: Any,
    role_arn: str,
    *,
    mfa_serial: str | None,
    mfa_code: str | None,
    ask: Callable[[str], str] | None = None,
    session_name: str | None = None,
) -> ReadOnlyCredentials:
    """STS AssumeRole into the compliance role, which requires MFA: the code is asked for when a serial is known."""
    request: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name or _session_name(session)}
    if mfa_serial:
        code = mfa_code or (ask or getpass.getpass)(f"MFA code for {mfa_serial}: ").strip()
        if not re.fullmatch(r"\d{6}", code):
            raise NoCredentials("the MFA code is six digits")
        request |= {"SerialNumber": mfa_serial, "TokenCode": code}
    try:
        answer = session.client("sts").assume_role(**request)["Credentials"]
    except (ClientError, BotoCoreError) as error:
        problem = _sdk_error(error, "assuming the compliance role")
        if problem.code in ("AccessDenied", "AccessDeniedException") and not mfa_serial:
            raise NoCredentials(
                "the compliance role requires MFA: pass --mfa-serial (or set mfa_serial in your profile) "
                "and the code with --mfa-code, or answer the prompt",
                problem.code,
            ) from error
        raise problem from error
    return Credentials(
        answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"]
    ).get_frozen_credentials()


def _session_name(session: Any) -> str:
    try:
        arn = str(session.client("sts").get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError) as error:
        raise _sdk_error(error, "reading who you are (sts:GetCallerIdentity)") from error
    name = re.sub(r"[^\w+=,.@-]", "-", arn.rsplit("/", 1)[-1])[:48]
    return f"compliance-{name}"


def profile_session(profile: str | None, region: str | None) -> Any:
    try:
        return boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as error:
        raise NoCredentials(f"no AWS profile named {profile!r}") from error


def stack_target(
    *,
    stack: str | None,
    url: str | None,
    profile: str | None,
    region: str | None,
    role_arn: str | None,
    mfa_serial: str | None,
    mfa_code: str | None,
    assume: bool = True,
) -> Target:
    """A deployed stack: its ApiUrl and ComplianceOperatorRoleArn outputs (or --url / --role-arn)."""
    session = profile_session(profile, region)
    outputs = stack_outputs(session, stack) if stack else {}
    api_url = url or outputs.get("ApiUrl")
    if not api_url:
        raise ToolError("name the stack (--stack) or the API's URL (--url)")
    match = _API_HOST.match(api_url)
    signing_region = region or (match["region"] if match else None) or session.region_name
    if not signing_region:
        raise ToolError("cannot tell the API's region: pass --region")
    if assume:
        role = role_arn or outputs.get("ComplianceOperatorRoleArn")
        if not role:
            raise ToolError("cannot tell the compliance role: pass --role-arn or --stack")
        credentials = assume_operator_role(
            session, role, mfa_serial=mfa_serial_of(session, mfa_serial), mfa_code=mfa_code
        )
        caller = f"assumed {role}"
    else:
        found = session.get_credentials()
        if found is None:
            raise NoCredentials("no AWS credentials found: pass --profile or configure your default credentials")
        credentials, caller = found.get_frozen_credentials(), f"profile {profile or 'default'} (no role assumed)"
    return Target(api_url.rstrip("/"), signing_region, credentials, caller)
