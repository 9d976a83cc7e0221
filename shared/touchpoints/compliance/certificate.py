"""The erasure certificate: a PII-free record of a completed erasure that the team can file.

Built from the request as the worker left it (each step with its time and counts); the same
function gives the readable text form the API serves with `?format=text` and the operator tool prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from touchpoints.compliance.model import (
    ComplianceRequest,
    NotAnErasure,
    RequestKind,
    RequestNotCompleted,
    RequestState,
)

FORMAT = "touchpoints.erasure-certificate/1"


def erasure_certificate(request: ComplianceRequest) -> dict[str, Any]:
    """The certificate of a completed erasure; NotAnErasure or RequestNotCompleted otherwise."""
    if request.kind is not RequestKind.ERASURE:
        raise NotAnErasure("only an erasure has a certificate")
    if request.state is not RequestState.COMPLETED or request.completed_at is None:
        raise RequestNotCompleted("the erasure is not completed yet; follow it at its status URL")
    return {
        "format": FORMAT,
        "request_id": request.request_id,
        "case_reference": request.case_reference,
        "regulation": request.regulation.value,
        "received_at": request.received_at.isoformat(),
        "completed_at": request.completed_at.isoformat(),
        "deadline": request.deadline.isoformat(),
        "deadline_met": request.completed_at.date() <= request.deadline,
        "steps": [step.as_dict() for step in request.steps],
        "key_destroyed": request.counts.get("keys_destroyed", 0) > 0,
        "suppressed": request.suppress and "tokens_suppressed" in request.counts,
        "identifiers_suppressed": request.counts.get("tokens_suppressed", 0),
        "items_deleted": request.counts.get("items_deleted", 0),
    }


def certificate_text(certificate: Mapping[str, Any]) -> str:
    """The certificate as plain text, one fact a line, for filing or printing."""
    met = "yes" if certificate["deadline_met"] else "NO"
    lines = [
        "ERASURE CERTIFICATE",
        f"Request:          {certificate['request_id']}",
        f"Case reference:   {certificate['case_reference']}",
        f"Regulation:       {str(certificate['regulation']).upper()}",
        f"Received:         {certificate['received_at']}",
        f"Completed:        {certificate['completed_at']}",
        f"Legal deadline:   {certificate['deadline']} (met: {met})",
        f"Key destroyed:    {'yes' if certificate['key_destroyed'] else 'no (no profile was held)'}",
        f"Suppressed:       {'yes' if certificate['suppressed'] else 'no'}"
        f" ({certificate.get('identifiers_suppressed', 0)} identifiers)",
        f"Items deleted:    {certificate.get('items_deleted', 0)}",
        "Steps:",
    ]
    for step in certificate["steps"]:
        counts = ", ".join(f"{name} {value}" for name, value in sorted(step["counts"].items())) or "-"
        lines.append(f"  {step['step']:<9} {step['at']}  {counts}")
    lines.append("No personal data is held in this certificate: the person is named by the request only.")
    return "\n".join(lines) + "\n"
