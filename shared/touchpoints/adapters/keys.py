"""Item keys of the profile table (single-table design) and the key vault.

profile table, partition SUBJECT#<id>:  PROFILE | EVENT#<channel>#<event id> | CONSENT#<purpose:scope>#<time>
                                        | LINK#<token> (the subject's tokens, listed without growing the profile)
profile table, partition TOKEN#<token>: TOKEN  (which subject a token belongs to, or a suppression)
key vault,     partition SUBJECT#<id>:  the subject's wrapped data key
"""

from __future__ import annotations

from touchpoints.items.link import SK_PREFIX as LINK_PREFIX

PROFILE_SK = "PROFILE"
TOKEN_SK = "TOKEN"
EVENT_PREFIX = "EVENT#"
CONSENT_PREFIX = "CONSENT#"


def subject_pk(subject_id: str) -> str:
    return f"SUBJECT#{subject_id}"


def subject_id_of(pk: str) -> str:
    return pk.removeprefix("SUBJECT#")


def token_pk(token: str) -> str:
    return f"TOKEN#{token}"


def event_sk(channel: str, event_id: str) -> str:
    return f"{EVENT_PREFIX}{channel}#{event_id}"


def consent_sk(consent_key: str, collected_at_iso: str) -> str:
    return f"{CONSENT_PREFIX}{consent_key}#{collected_at_iso}"


def link_key(subject_id: str, token: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": subject_pk(subject_id)}, "sk": {"S": f"{LINK_PREFIX}{token}"}}


def profile_key(subject_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": subject_pk(subject_id)}, "sk": {"S": PROFILE_SK}}


def token_key(token: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": token_pk(token)}, "sk": {"S": TOKEN_SK}}


def vault_key(subject_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": subject_pk(subject_id)}}
