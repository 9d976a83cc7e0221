"""Values for the OpenAPI document's own formats and time bounds, made as a client reading the document would make
them: registered with schemathesis on import, so bodies generated from openapi.json respect what it says.

- `phone`: a number valid in its country's numbering plan (libphonenumber's own data, not our normalizer), in
  E.164 or, for Mexico, as dialled at home.
- `mx-rfc`, `mx-curp`: Mexico's tax ids with their check digits.
- `time-zone`: an IANA time zone name.
- `x-not-after` / `x-not-before` (a bound relative to the request's time, which JSON Schema cannot say): a
  date-time or date inside the bounds; `within_time_bounds` points such values at a format that keeps them there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import available_timezones

import phonenumbers
import schemathesis
from hypothesis import strategies as st

from tests.people import make_curp, make_rfc
from touchpoints import normalize

_BORN = st.dates(date(1940, 1, 1), date(2005, 12, 28))
_LETTERS = st.text("ABCDEFGHJKLMNPRSTUVWXZ", min_size=4, max_size=4)
_REGIONS = ("MX", "US", "ES", "CO", "AR", "BR", "GB", "DE")
PAST_DATE_TIME = "x-past-date-time"
BIRTH_DATE = "x-birth-date"


def _valid(normalizer: Callable[[str], str]) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            normalizer(value)
        except ValueError:
            return False
        return True

    return check


def _number(region: str, digits: int) -> phonenumbers.PhoneNumber:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    return phonenumbers.PhoneNumber(
        country_code=example.country_code, national_number=int(national[:-4] + f"{digits:04d}")
    )


def _written(number: phonenumbers.PhoneNumber, national: bool) -> str:
    mexican = phonenumbers.region_code_for_number(number) == "MX"
    style = phonenumbers.PhoneNumberFormat.NATIONAL if national and mexican else phonenumbers.PhoneNumberFormat.E164
    return phonenumbers.format_number(number, style)


_PHONES = st.builds(
    _written,
    st.builds(_number, st.sampled_from(_REGIONS), st.integers(0, 9999)).filter(phonenumbers.is_valid_number),
    st.booleans(),
)
_OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=-6)), timezone(timedelta(hours=5, minutes=30))])
_PAST_TIMES = st.builds(
    lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone).isoformat(),
    st.datetimes(datetime(2000, 1, 1), datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)),
    _OFFSETS,
)
_TODAY = datetime.now(UTC).date()
_BIRTH_DATES = st.dates(date(_TODAY.year - 130, 1, 1), _TODAY - timedelta(days=1)).map(date.isoformat)

schemathesis.openapi.format("phone", _PHONES)
schemathesis.openapi.format("mx-rfc", st.builds(make_rfc, _LETTERS, _BORN).filter(_valid(normalize.rfc)))
schemathesis.openapi.format("mx-curp", st.builds(make_curp, _LETTERS, _BORN).filter(_valid(normalize.curp)))
schemathesis.openapi.format("time-zone", st.sampled_from(sorted(available_timezones())))
schemathesis.openapi.format(PAST_DATE_TIME, _PAST_TIMES)
schemathesis.openapi.format(BIRTH_DATE, _BIRTH_DATES)


def within_time_bounds(document: dict[str, Any]) -> dict[str, Any]:
    """The document with each time bounded by `x-not-after` generated inside its bounds (a copy)."""

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            node = {key: visit(value) for key, value in node.items()}
            if "x-not-after" in node:
                node["format"] = BIRTH_DATE if node.get("format") == "date" else PAST_DATE_TIME
            return node
        if isinstance(node, list):
            return [visit(item) for item in node]
        return node

    bounded: dict[str, Any] = visit(copy.deepcopy(document))
    return bounded
