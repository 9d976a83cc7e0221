"""Our field encryption vs Powertools DataMasking (AWS Encryption SDK provider), same five fields, moto KMS."""

from __future__ import annotations

from typing import Any

import boto3

from benchmarks.harness import PII_FIELDS, interleaved, web_signup
from touchpoints.adapters.kms import KmsKeyWrapper
from touchpoints.privacy.keyring import SubjectKeyring

TARGET_SPEEDUP = 20.0


def measure(*, ops: int, repeats: int) -> dict[str, Any]:
    """Warm on both sides: our subject key is cached, the Encryption SDK caches its data key."""
    from aws_lambda_powertools.utilities.data_masking import DataMasking
    from aws_lambda_powertools.utilities.data_masking.provider.kms.aws_encryption_sdk import AWSEncryptionSDKProvider

    kms = boto3.client("kms")
    key = kms.create_key(Description="benchmark data masking")["KeyMetadata"]
    masker = DataMasking(provider=AWSEncryptionSDKProvider(keys=[key["Arn"]]))
    customer = web_signup(1)["customer"]
    fields = {name: customer[name] for name in PII_FIELDS}
    subject_id = "sub_benchmark"

    keyring = SubjectKeyring(KmsKeyWrapper(kms, key["KeyId"]))
    new_key, cipher = keyring.new_subject_key(subject_id)
    keyring.remember(subject_id, cipher)

    def ours(count: int) -> None:
        for _ in range(count):
            subject_cipher = keyring.cipher_from_wrapped(subject_id, new_key.wrapped)
            for name, value in fields.items():
                subject_cipher.encrypt(name, value)

    def masking_whole(count: int) -> None:
        for _ in range(count):
            masker.encrypt(fields, subject_id=subject_id)

    def masking_per_field(count: int) -> None:
        for _ in range(count):
            for value in fields.values():
                masker.encrypt(value, subject_id=subject_id)

    slow_ops = max(1, ops // 20)
    fast = interleaved({"ours": ours}, ops, repeats)
    slow = interleaved({"whole": masking_whole, "per_field": masking_per_field}, slow_ops, repeats)
    ours_us = fast["ours"].median * 1e6
    whole_us, per_field_us = slow["whole"].median * 1e6, slow["per_field"].median * 1e6
    speedup = min(whole_us, per_field_us) / ours_us
    return {
        "fields": list(PII_FIELDS),
        "ours_us_per_event": ours_us,
        "datamasking_one_blob_us_per_event": whole_us,
        "datamasking_per_field_us_per_event": per_field_us,
        "speedup_vs_faster_datamasking": speedup,
        "target_speedup": TARGET_SPEEDUP,
        "met": speedup >= TARGET_SPEEDUP,
        "note": "ours: cached subject key, AES-256-GCM per field with subject+field AAD. DataMasking: encrypt() of "
        "the five fields as one JSON blob, and of each field, with its default key caching; the faster counts.",
    }
