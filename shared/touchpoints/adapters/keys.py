"""Item keys of the profile table (single-table design), the identity index and the key vault.

profile table,  partition SUBJECT#<id>:  PROFILE | EVENT#<keyed digest> | CONSENT#<keyed digest> (sealed)
profile table,  partition TOKEN#<token>: TOKEN  (the backed-up suppression list: an erased person's tokens only)
identity index, partition TOKEN#<token>: TOKEN  (which subject a token belongs to, or a suppression)
identity index, partition SUBJECT#<id>:  LINK#<token> (the subject's tokens, listed without growing the profile)
key vault,      partition SUBJECT#<id>:  the subject's wrapped data key
"""

from __future__ import annotations

from touchpoints.items.link import SK_PREFIX as LINK_PREFIX

PROFILE_SK = "PROFILE"
TOKEN_SK = "TOKEN"


def subject_pk(subject_id: str) -> str:
    return f"SUBJECT#{subject_id}"


def subject_id_of(pk: str) -> str:
    return pk.removeprefix("SUBJECT#")


def token_pk(token: str) -> str:
    return f"TOKEN#{token}"


def link_key(subject_id: str, token: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": subject_pk(subject_id)}, "sk": {"S": f"{LINK_PREFIX}{token}"}}


def profile_key(subject_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": subject_pk(subject_id)}, "sk": {"S": PROFILE_SK}}


def token_key(token: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": token_pk(token)}, "sk": {"S": TOKEN_SK}}


def vault_key(subject_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": subject_pk(subject_id)}}
