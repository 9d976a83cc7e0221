"""Large exports in S3: written encrypted with the stack's KMS key, fetched through presigned links."""

from __future__ import annotations

from typing import Any

from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.compliance.model import ExportStorageUnavailable
from touchpoints.observability import logger


class S3ExportStore:
    def __init__(self, s3_client: Any, bucket: str, kms_key_arn: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._key_arn = kms_key_arn

    def put(self, key: str, body: bytes, content_type: str) -> None:
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                # Named explicitly: the bucket policy refuses objects not encrypted under the stack's key.
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self._key_arn,
                CacheControl="no-store",
            )
        except SDK_ERRORS as error:
            logger.warning("export upload failed", extra={"error_code": error_code(error)})
            raise ExportStorageUnavailable("the export bucket is unavailable; retry the export") from error

    def link(self, key: str, expires_in: int) -> str:
        try:
            return str(
                self._s3.generate_presigned_url(
                    "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
                )
            )
        except SDK_ERRORS as error:
            logger.warning("export link signing failed", extra={"error_code": error_code(error)})
            raise ExportStorageUnavailable("the export link could not be signed; retry the export") from error
