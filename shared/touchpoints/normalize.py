"""Normalization of identifiers, so the same person always yields the same token.

Each function returns the canonical form or raises a PydanticCustomError whose type is a
stable error code (e.g. ``invalid_phone``). Messages never repeat the value.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import cache
from types import ModuleType

from pydantic_core import PydanticCustomError

# email_validator, phonenumbers and stdnum (~50 ms together) are imported on first use, not at a
# function's import; a channel that never sends an RFC or CURP never loads stdnum at all.

# Numbers without a country prefix are read as Mexican: the retailer's home market.
DEFAULT_PHONE_REGION = "MX"
_OPAQUE_ID = re.compile(r"^[A-Za-z0-9._:@\-]{1,128}$")
_HANDLE = re.compile(r"^@?[A-Za-z0-9._]{1,64}$")


@cache
def _email_validator() -> ModuleType:
    import email_validator

    return email_validator


def email(value: str) -> str:
    validator = _email_validator()
    try:
        result = validator.validate_email(value, check_deliverability=False)
    except validator.EmailNotValidError:
        raise PydanticCustomError("invalid_email", "not a valid email address") from None
    return result.normalized.lower()


def phone(value: str) -> str:
    """E.164, e.g. +525512345678."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(value, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise PydanticCustomError("invalid_phone", "not a valid phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise PydanticCustomError("invalid_phone", "not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def rfc(value: str) -> str:
    """Mexico's tax id: 13 characters for a person, 12 for a company."""
    from stdnum.exceptions import ValidationError as StdnumValidationError
    from stdnum.mx import rfc as mx_rfc

    try:
        number = str(mx_rfc.validate(value, validate_check_digits=True))
    except StdnumValidationError:
        raise PydanticCustomError("invalid_rfc", "not a valid RFC") from None
    if len(number) not in (12, 13):
        raise PydanticCustomError("invalid_rfc", "an RFC has 12 (company) or 13 (person) characters")
    return number


def curp(value: str) -> str:
    from stdnum.exceptions import ValidationError as StdnumValidationError
    from stdnum.mx import curp as mx_curp

    try:
        return str(mx_curp.validate(value, validate_check_digits=True))
    except StdnumValidationError:
        raise PydanticCustomError("invalid_curp", "not a valid CURP") from None


def opaque_id(value: str) -> str:
    """App user ids, loyalty numbers, push tokens, cookie ids: compared exactly."""
    if not _OPAQUE_ID.fullmatch(value):
        raise PydanticCustomError("invalid_identifier", "identifier has characters or length not allowed")
    return value


def social_handle(value: str) -> str:
    if not _HANDLE.fullmatch(value):
        raise PydanticCustomError("invalid_social_handle", "not a valid social handle")
    return value.removeprefix("@").lower()


def person_name(value: str) -> str:
    cleaned = " ".join(unicodedata.normalize("NFC", value).split())
    if not cleaned or len(cleaned) > 100 or any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise PydanticCustomError("invalid_name", "name is empty, too long or has control characters")
    return cleaned


def birth_date(value: date, today: date) -> str:
    if value > today or value.year < today.year - 130:
        raise PydanticCustomError("invalid_birth_date", "birth date is in the future or implausibly old")
    return value.isoformat()
