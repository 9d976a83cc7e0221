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
# The patterns are also what the OpenAPI document says of these identifiers (channels/common.py).
OPAQUE_ID_PATTERN = r"^[A-Za-z0-9._:@\-]{1,128}$"
SOCIAL_HANDLE_PATTERN = r"^@?[A-Za-z0-9._]{1,64}$"
_OPAQUE_ID = re.compile(OPAQUE_ID_PATTERN)
_HANDLE = re.compile(SOCIAL_HANDLE_PATTERN)


@cache
def _email_validator() -> ModuleType:
    import email_validator

    return email_validator


# The everyday address (ASCII, common local-part characters, letters-only TLD) is checked here at a
# fraction of the full validator's cost; anything else goes through email_validator. The fast path
# accepts only what the full validator accepts, and normalizes it the same way (tests hold it to that).
_PLAIN_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9_%+\-]+(?:\.[A-Za-z0-9_%+\-]+)*)@"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,63}))"
)
_SPECIAL_USE_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
# What the OpenAPI document says beside `format: email`: no special-use domain (any case), which no mail reaches.
EMAIL_PATTERN = r"^(?!.*\.(?:{})$)".format(
    "|".join("".join(f"[{c.upper()}{c}]" for c in tld) for tld in sorted(_SPECIAL_USE_TLDS))
)


def _plain_email(value: str) -> str | None:
    match = _PLAIN_EMAIL.fullmatch(value)
    if match is None or len(match["local"]) > 64 or len(value) > 254 or match["tld"].lower() in _SPECIAL_USE_TLDS:
        return None
    return value.lower()


def email(value: str) -> str:
    if (plain := _plain_email(value)) is not None:
        return plain
    validator = _email_validator()
    try:
        result = validator.validate_email(value, check_deliverability=False)
    except validator.EmailNotValidError:
        raise PydanticCustomError("invalid_email", "not a valid email address") from None
    return result.normalized.lower()


# The everyday Mexican number (ten digits, optionally +52, spaces, dashes, dots or an area code in
# parentheses) skips phonenumbers' general parser (~28 µs) but not its validity check; anything else
# takes the full parse. Tests hold the fast path to the full one.
_PLAIN_MX_PHONE = re.compile(r"(?:\+52[ .\-]?)?\(?([1-9]\d)\)?[ .\-]?(\d{2,4})[ .\-]?(\d{2,4})[ .\-]?(\d{0,4})")


def _plain_phone(value: str) -> str | None:
    import phonenumbers

    match = _PLAIN_MX_PHONE.fullmatch(value)
    if match is None:
        return None
    national = "".join(match.groups())
    if len(national) != 10:
        return None
    number = phonenumbers.PhoneNumber(country_code=52, national_number=int(national))
    if not phonenumbers.is_valid_number_for_region(number, DEFAULT_PHONE_REGION):
        return None
    return f"+52{national}"


def phone(value: str) -> str:
    """E.164, e.g. +525512345678."""
    return _plain_phone(value) or _any_phone(value)


def _any_phone(value: str) -> str:
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
    # split() folded every Unicode space into " ", so isprintable() refuses exactly the C* categories here.
    if not cleaned or len(cleaned) > 100 or not cleaned.isprintable():
        raise PydanticCustomError("invalid_name", "name is empty, too long or has control characters")
    return cleaned


def birth_date(value: date, today: date) -> str:
    if value > today or value.year < today.year - 130:
        raise PydanticCustomError("invalid_birth_date", "birth date is in the future or implausibly old")
    return value.isoformat()
