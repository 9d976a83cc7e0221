"""The branch key table in DynamoDB and its KMS protection, as the functions read it (the operator's side, which
writes it, is touchpoints.adapters.branch_key_admin).

Each version's key material is made by KMS (GenerateDataKeyWithoutPlaintext: no plaintext leaves KMS at creation)
and stored encrypted under the stack's KMS key with the encryption context {branch_key_id, branch_key_version}; a
function's IAM allows Decrypt with exactly that context (template.yaml, `UnwrapBranchKeys`).
"""

from __future__ import annotations

from typing import Any

from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.errors import EncryptionUnavailable
from touchpoints.items import branch_key as item
from touchpoints.observability import logger
from touchpoints.privacy.branch_keys import BranchKey, SealedBranchKey, UnknownBranchKeyVersion


class DynamoBranchKeys:
    """The functions' side (touchpoints.privacy.branch_keys.BranchKeySource): a GetItem per version or active pointer,
    a KMS Decrypt per version a container needs, each once per cache TTL."""

    def __init__(self, dynamodb_client: Any, kms_client: Any, table: str, kms_key_id: str) -> None:
        self._db = dynamodb_client
        self._kms = kms_client
        self._table = table
        self._kms_key_id = kms_key_id

    def active(self) -> SealedBranchKey | None:
        found = self._get(item.ACTIVE_SK)
        return None if found is None else SealedBranchKey(found[item.VERSION]["S"], bytes(found[item.ENC]["B"]))

    def stored(self, version: str) -> SealedBranchKey:
        found = self._get(item.version_sk(version))
        if found is None:
            raise UnknownBranchKeyVersion(version)
        return SealedBranchKey(version, bytes(found[item.ENC]["B"]))

    def _get(self, sk: str) -> dict[str, Any] | None:
        try:
            answer = self._db.get_item(TableName=self._table, Key=item.key(sk), ConsistentRead=True)
        except SDK_ERRORS as error:
            logger.warning("branch key read failed", extra={"error_code": error_code(error)})
            raise EncryptionUnavailable("the encryption service is unavailable; nothing was stored") from error
        found: dict[str, Any] | None = answer.get("Item")
        return found

    def unseal(self, sealed: SealedBranchKey) -> BranchKey:
        try:
            answer = self._kms.decrypt(
                KeyId=self._kms_key_id,
                CiphertextBlob=sealed.sealed,
                EncryptionContext=item.encryption_context(sealed.version),
            )
        except SDK_ERRORS as error:
            logger.warning("KMS Decrypt of a branch key failed", extra={"error_code": error_code(error)})
            raise EncryptionUnavailable("the encryption service is unavailable; nothing was stored") from error
        return BranchKey(item.BRANCH_KEY_ID, sealed.version, bytes(answer["Plaintext"]))
