"""Item keys of the profile table (single-table design), the identity index and the key vault.

profile table,  partition SUBJECT#<id>:  PROFILE | EVENT#<keyed digest> | CONSENT#<keyed digest> (sealed)
profile table,  partition TOKEN#<token>: TOKEN  (the backed-up suppression list: an erased person's tokens only)
identity index, partition TOKEN#<token>: TOKEN  (which subject a token belongs to, or a suppression)
identity index, partition SUBJECT#<id>:  LINK#<token> (the subject's tokens, listed without growing the profile)
key vault,      partition SUBJECT#<id>:  the subject's wrapped data key
"""

from __future__ import annotations

from touchpoints.items import link as link_item
from touchpoints.items import profile as profile_item
from touchpoints.items import token as token_item
from touchpoints.items import vault as vault_item
from touchpoints.items.link import SK_PREFIX as LINK_PREFIX

# The key attributes of every item of these tables, whatever its kind (each item's schema names the same two):
# for reads that meet items of several kinds, e.g. a subject's partition or a scan
PK = profile_item.PK
SK = profile_item.SK

PROFILE_SK = "PROFILE"
TOKEN_SK = "TOKEN"


def subject_pk(subject_id: str) -> str:
    return f"SUBJECT#{subject_id}"


def subject_id_of(pk: str) -> str:
    return pk.removeprefix("SUBJECT#")


def token_pk(token: str) -> str:
    return f"TOKEN#{token}"


def link_key(subject_id: str, token: str) -> dict[str, dict[str, str]]:
    return {link_item.PK: {"S": subject_pk(subject_id)}, link_item.SK: {"S": f"{LINK_PREFIX}{token}"}}


def profile_key(subject_id: str) -> dict[str, dict[str, str]]:
    return {profile_item.PK: {"S": subject_pk(subject_id)}, profile_item.SK: {"S": PROFILE_SK}}


def token_key(token: str) -> dict[str, dict[str, str]]:
    return {token_item.PK: {"S": token_pk(token)}, token_item.SK: {"S": TOKEN_SK}}


def vault_key(subject_id: str) -> dict[str, dict[str, str]]:
    return {vault_item.PK: {"S": subject_pk(subject_id)}}
