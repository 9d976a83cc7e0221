"""KMS envelope encryption of per-subject data keys: how data keys were made and wrapped before the key hierarchy
(touchpoints.privacy.branch_keys), and still are on a stack before its first branch key."""

from __future__ import annotations

from typing import Any

from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.errors import EncryptionUnavailable
from touchpoints.observability import logger
from touchpoints.privacy.keyring import NewDataKey


class KmsKeyWrapper:
    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def generate(self, subject_id: str) -> NewDataKey:
        try:
            answer = self._kms.generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext={"subject_id": subject_id}
            )
        except SDK_ERRORS as error:
            logger.warning("KMS GenerateDataKey failed", extra={"error_code": error_code(error)})
            raise EncryptionUnavailable("the encryption service is unavailable; nothing was stored") from error
        return NewDataKey(plaintext=answer["Plaintext"], wrapped=answer["CiphertextBlob"])

    def unwrap(self, subject_id: str, wrapped: bytes) -> bytes:
        try:
            answer = self._kms.decrypt(
                KeyId=self._key_id, CiphertextBlob=wrapped, EncryptionContext={"subject_id": subject_id}
            )
        except SDK_ERRORS as error:
            logger.warning("KMS Decrypt failed", extra={"error_code": error_code(error)})
            raise EncryptionUnavailable("the encryption service is unavailable; nothing was stored") from error
        return bytes(answer["Plaintext"])
