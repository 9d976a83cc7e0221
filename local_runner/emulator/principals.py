"""Local IAM callers for the API's AWS_IAM routes, and SigV4 verification of their requests.

Every `AWS::IAM::Role` in the template gets a local principal that signs as an assumed role of that
role (so a function that trusts `!GetAtt ComplianceOperatorRole.Arn` trusts it), plus one plain IAM
user, `developer`, for calls that are authenticated but hold no role. Their keys are deterministic
and public, like the local API keys: access key id `local-<Name>`, secret `local-secret-<Name>`.

What the runner checks is what API Gateway checks before IAM policy evaluation: a well-formed
`Authorization: AWS4-HMAC-SHA256` header, a known access key, a fresh timestamp, the body hash and
the signature. IAM policies themselves (who may call `execute-api:Invoke` on which route) are not
evaluated locally; the functions' own checks of the caller's ARN still apply.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local_runner.emulator.provision import LOCAL_ACCOUNT, Provisioned, local_role_id
from local_runner.emulator.template import resources_of_type

SESSION_NAME = "local-session"
DEVELOPER = "developer"
MAX_CLOCK_SKEW = timedelta(minutes=15)
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class LocalPrincipal:
    name: str
    access_key_id: str
    secret_access_key: str
    arn: str
    user_id: str  # what API Gateway reports as `caller` and `user`

    def credentials(self) -> Credentials:
        """For signing requests to the local API (tests, the demo, scripts)."""
        return Credentials(self.access_key_id, self.secret_access_key)

    def identity(self) -> dict[str, Any]:
        """The requestContext.identity fields API Gateway fills for an IAM-authenticated caller."""
        return {
            "accountId": LOCAL_ACCOUNT,
            "caller": self.user_id,
            "user": self.user_id,
            "userArn": self.arn,
            "accessKey": self.access_key_id,
        }


def local_principals(template: Mapping[str, Any], provisioned: Provisioned) -> dict[str, LocalPrincipal]:
    """The local callers by access key id: one per template role (as an assumed role) and `developer`."""
    principals = [
        LocalPrincipal(
            DEVELOPER,
            f"local-{DEVELOPER}",
            f"local-secret-{DEVELOPER}",
            f"arn:aws:iam::{LOCAL_ACCOUNT}:user/local-{DEVELOPER}",
            "AIDALOCALDEVELOPER",
        )
    ]
    for logical_id in resources_of_type(template, "AWS::IAM::Role"):
        role_name = provisioned.intrinsics.refs[logical_id]
        principals.append(
            LocalPrincipal(
                logical_id,
                f"local-{logical_id}",
                f"local-secret-{logical_id}",
                f"arn:aws:sts::{LOCAL_ACCOUNT}:assumed-role/{role_name}/{SESSION_NAME}",
                f"{local_role_id(logical_id)}:{SESSION_NAME}",
            )
        )
    return {p.access_key_id: p for p in principals}


class AuthenticationFailed(Exception):
    """API Gateway's 403 for an IAM route: the message is the one AWS gives."""


def authenticate(
    principals: Mapping[str, LocalPrincipal],
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    now: datetime | None = None,
) -> LocalPrincipal:
    """The principal whose SigV4 signature this request carries, or AuthenticationFailed."""
    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        by_name.setdefault(name.lower(), []).append(value)
    authorization = (by_name.get("authorization") or [""])[0].strip()
    if not authorization:
        raise AuthenticationFailed("Missing Authentication Token")
    match = _AUTHORIZATION.match(authorization)
    if match is None:
        raise AuthenticationFailed("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'.")
    access_key_id, _, scope = match["credential"].partition("/")
    principal = principals.get(access_key_id)
    if principal is None:
        raise AuthenticationFailed("The security token included in the request is invalid.")
    scope_parts = scope.split("/")
    if len(scope_parts) != 4 or scope_parts[2] != "execute-api" or scope_parts[3] != "aws4_request":
        raise AuthenticationFailed("Credential should be scoped to correct service: 'execute-api'.")
    timestamp = (by_name.get("x-amz-date") or [""])[0]
    try:
        signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AuthenticationFailed("Date header or X-Amz-Date is required and must be valid.") from None
    if abs((now or datetime.now(UTC)) - signed_at) > MAX_CLOCK_SKEW or scope_parts[0] != timestamp[:8]:
        raise AuthenticationFailed("Signature expired or not yet valid.")
    content_sha = (by_name.get("x-amz-content-sha256") or [None])[0]
    if content_sha not in (None, "UNSIGNED-PAYLOAD") and content_sha != hashlib.sha256(body).hexdigest():
        raise AuthenticationFailed("The provided x-amz-content-sha256 header does not match the body.")

    signed = match["signed"].split(";")
    if "host" not in signed:
        raise AuthenticationFailed("'Host' must be a signed header.")
    request = AWSRequest(method=method, url=url, data=body)
    for name in signed:
        if name not in by_name:
            raise AuthenticationFailed(f"Signed header {name!r} is missing.")
        request.headers[name] = ",".join(by_name[name])
    request.context["timestamp"] = timestamp
    signer = SigV4Auth(principal.credentials(), "execute-api", scope_parts[1])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise AuthenticationFailed(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    return principal


def sign(
    principal: LocalPrincipal, method: str, url: str, body: bytes = b"", region: str = "us-east-1"
) -> dict[str, str]:
    """Headers that authenticate a request to an IAM route as this principal (what `awscurl` would add)."""
    return sign_with(principal.credentials(), method, url, body, region)


def sign_with(
    credentials: Credentials, method: str, url: str, body: bytes = b"", region: str = "us-east-1"
) -> dict[str, str]:
    """Headers that authenticate a request to an IAM route with these credentials, local or AWS's."""
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    return dict(request.headers.items())
