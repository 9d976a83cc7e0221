"""The compliance API over HTTPS, every request signed with SigV4 (service execute-api), answers mapped to
the operator's failures. Nothing here prints: callers decide what reaches the terminal."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from compliance_cli.credentials import Target
from compliance_cli.errors import (
    Ambiguous,
    Conflict,
    CredentialsExpired,
    Forbidden,
    NotFound,
    RefusedInput,
    ToolError,
    Unavailable,
)

PREFIX = "/v1/compliance"
TIMEOUT = (5, 60)


class ComplianceClient:
    def __init__(self, target: Target, http: requests.Session | None = None) -> None:
        self.target = target
        self._http = http or requests.Session()

    # ------------------------------------------------------------------ routes
    def erase(self, subject: Mapping[str, Any], regulation: str, case: str, suppress: bool | None) -> dict[str, Any]:
        body: dict[str, Any] = {"subject": dict(subject), "regulation": regulation, "case_reference": case}
        if suppress is not None:
            body["suppress"] = suppress
        return self._call("POST", "/erasures", body)

    def status(self, request_id: str) -> dict[str, Any]:
        return self._call("GET", f"/requests/{request_id}")

    def queue(
        self, state: str | None = None, regulation: str | None = None, limit: int | None = None, page: str | None = None
    ) -> dict[str, Any]:
        query = {"state": state, "regulation": regulation, "limit": limit, "next_token": page}
        return self._call("GET", "/requests", query={k: v for k, v in query.items() if v is not None})

    def certificate(self, request_id: str) -> dict[str, Any]:
        return self._call("GET", f"/requests/{request_id}/certificate")

    def certificate_text(self, request_id: str) -> str:
        """The API's own text form, so the filed certificate reads the same from every client."""
        answer = self._send("GET", f"/requests/{request_id}/certificate", query={"format": "text"})
        if answer.status_code != 200:
            raise refusal(answer.status_code, _json(answer))
        return answer.text

    def export(self, subject: Mapping[str, Any], regulation: str, case: str) -> dict[str, Any]:
        body = {"subject": dict(subject), "regulation": regulation, "case_reference": case}
        return self._call("POST", "/exports", body)

    def rectify(
        self, subject: Mapping[str, Any], corrections: Mapping[str, Any], regulation: str, case: str
    ) -> dict[str, Any]:
        body = {"subject": dict(subject), "corrections": dict(corrections), "regulation": regulation}
        return self._call("POST", "/rectifications", body | {"case_reference": case})

    def object(
        self, subject: Mapping[str, Any], objections: list[dict[str, str]], regulation: str, case: str
    ) -> dict[str, Any]:
        body = {"subject": dict(subject), "objections": objections, "regulation": regulation}
        return self._call("POST", "/objections", body | {"case_reference": case})

    def lift(self, subject: Mapping[str, Any], regulation: str, case: str) -> dict[str, Any]:
        body = {"subject": dict(subject), "regulation": regulation, "case_reference": case}
        return self._call("POST", "/suppression-lifts", body)

    def fetch_link(self, url: str) -> bytes:
        """A large export's presigned link: it carries its own signature, so nothing of ours is sent along."""
        try:
            answer = requests.get(url, timeout=TIMEOUT)
        except requests.RequestException as error:
            raise Unavailable(f"the export link could not be fetched ({type(error).__name__}); export again") from None
        if answer.status_code == 403 and b"expired" in answer.content.lower():
            raise CredentialsExpired("the export link has expired; export again to get a new one", "link_expired")
        if answer.status_code != 200:
            raise Unavailable(f"the export link answered {answer.status_code}; export again")
        return answer.content

    # ------------------------------------------------------------------ HTTP
    def _call(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None) -> dict[str, Any]:
        answer = self._send(method, path, body, query)
        payload = _json(answer)
        if answer.status_code < 300:
            return payload
        raise refusal(answer.status_code, payload)

    def _send(
        self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None
    ) -> requests.Response:
        url = f"{self.target.url}{PREFIX}{path}"
        if query:
            url += "?" + urlencode(query)
        data = b"" if body is None else json.dumps(body).encode()
        request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
        SigV4Auth(self.target.credentials, "execute-api", self.target.region).add_auth(request)
        try:
            return self._http.request(method, url, data=data, headers=dict(request.headers.items()), timeout=TIMEOUT)
        except requests.RequestException as error:
            raise Unavailable(f"the API at {self.target.url} cannot be reached ({type(error).__name__})") from None


def _json(answer: requests.Response) -> dict[str, Any]:
    try:
        payload = answer.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def refusal(status: int, payload: Mapping[str, Any]) -> ToolError:
    """The operator's failure for an API answer: the API's own envelope, or API Gateway's {"message": ...}."""
    error = payload.get("error")
    if isinstance(error, dict):
        return _api_refusal(status, error)
    message = str(payload.get("message") or f"HTTP {status}")
    if status == 403 and "expired" in message.lower():
        return CredentialsExpired(
            f"API Gateway refused the request: {message} Your credentials have expired (or this machine's clock "
            "is more than 15 minutes off): get new credentials and run the command again",
            "expired",
        )
    if status == 403:
        return Forbidden(f"API Gateway refused the request: {message} Sign as the compliance operator role", "iam")
    if status >= 500:
        return Unavailable(f"the API answered {status}: {message}; retry later")
    return ToolError(f"the API answered {status}: {message}")


_BY_STATUS: dict[int, type[ToolError]] = {
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    400: RefusedInput,
    413: RefusedInput,
    415: RefusedInput,
    422: RefusedInput,
}


def _api_refusal(status: int, error: Mapping[str, Any]) -> ToolError:
    code, text = str(error.get("code")), str(error.get("message", ""))
    details = "; ".join(
        f"{'.'.join(str(part) for part in d.get('loc', []))}: {d.get('code')}" for d in error.get("details") or []
    )
    text = f"{text} ({details})" if details else text
    if status == 409 and code == "ambiguous_subject":
        return Ambiguous(
            "these identifiers belong to two different people: file one request per person, each naming only "
            f"that person's identifiers ({code})",
            code,
        )
    missing = "no profile is held for this person" if code == "subject_not_found" else text
    kind = _BY_STATUS.get(status) or (Unavailable if status >= 500 or error.get("retryable") else ToolError)
    message = {
        Forbidden: f"refused: you are not signed in as the compliance operator role ({code}: {text}). "
        "Use --stack/--role-arn so the tool assumes it, or a profile that has assumed it",
        NotFound: f"not found: {missing} ({code})",
        Conflict: f"refused: {text} ({code})",
        RefusedInput: f"the API refused the request: {text} ({code})",
        Unavailable: f"the service is unavailable: {text} ({code}); retry later",
    }.get(kind, f"the API answered {status}: {text} ({code})")
    return kind(message, code)
