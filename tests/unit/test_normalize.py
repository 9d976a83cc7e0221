"""Identifiers normalize so that the same person always yields the same token."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from tests.people import make_curp, make_rfc
from touchpoints import normalize


@pytest.mark.parametrize("raw", ["55 1234 5678", "(55) 1234-5678", "+52 55 1234 5678", "+525512345678", "5512345678"])
def test_phone_formats_of_one_number_normalize_to_one_e164(raw):
    assert normalize.phone(raw) == "+525512345678"


@pytest.mark.parametrize("raw", ["12", "+1 555", "llamame", "55 1234"])
def test_invalid_phones_are_refused_with_a_code(raw):
    with pytest.raises(PydanticCustomError) as caught:
        normalize.phone(raw)
    assert caught.value.type == "invalid_phone"
    assert raw not in str(caught.value)


def test_email_is_case_folded():
    assert normalize.email("Ana.Perez@Example.MX") == normalize.email("ana.perez@example.mx") == "ana.perez@example.mx"


@pytest.mark.parametrize("raw", ["no-at-sign", "a@@b.mx", "a@b", ""])
def test_invalid_emails_are_refused(raw):
    with pytest.raises(PydanticCustomError) as caught:
        normalize.email(raw)
    assert caught.value.type == "invalid_email"


def test_rfc_and_curp_are_validated_with_their_check_digits():
    rfc = make_rfc("QUAB", date(1985, 3, 14))
    assert normalize.rfc(rfc.lower()) == rfc
    assert normalize.curp(make_curp("QUAB", date(1985, 3, 14))) == make_curp("QUAB", date(1985, 3, 14))
    wrong_digit = rfc[:-1] + ("0" if rfc[-1] != "0" else "1")
    for bad in (wrong_digit, "QUAB850314", "XXXX999999XXX"):
        with pytest.raises(PydanticCustomError) as caught:
            normalize.rfc(bad)
        assert caught.value.type == "invalid_rfc"


def test_names_are_cleaned_and_control_characters_refused():
    assert normalize.person_name("  Ana   María ") == "Ana María"
    with pytest.raises(PydanticCustomError):
        normalize.person_name("Ana\x00")


def test_birth_dates_must_be_plausible():
    today = date(2026, 11, 25)
    assert normalize.birth_date(date(1990, 1, 1), today) == "1990-01-01"
    for bad in (date(2027, 1, 1), date(1800, 1, 1)):
        with pytest.raises(PydanticCustomError):
            normalize.birth_date(bad, today)


@given(st.integers(min_value=10_000_000, max_value=99_999_999))
def test_any_mexico_city_number_normalizes_identically_from_national_and_international_forms(n):
    national = f"55{n:08d}"
    try:
        e164 = normalize.phone(national)
    except PydanticCustomError:
        return
    assert normalize.phone(f"+52 {national}") == e164
    assert normalize.phone(f"({national[:2]}) {national[2:6]}-{national[6:]}") == e164
