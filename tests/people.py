"""Sample people and the personal values they carry. Every value used in tests is registered
here, so leak checks can search logs, error bodies and tables for all of them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from stdnum.mx import curp as mx_curp
from stdnum.mx import rfc as mx_rfc

_REGISTERED: set[str] = set()


def register_pii(*values: str) -> None:
    _REGISTERED.update(v for v in values if v and len(v) >= 5)


def registered_pii() -> frozenset[str]:
    return frozenset(_REGISTERED)


def make_rfc(prefix: str, born: date) -> str:
    body = f"{prefix}{born:%y%m%d}H5"
    return body + mx_rfc.calc_check_digit(body)


def make_curp(prefix: str, born: date, sex: str = "H", state: str = "DF", consonants: str = "RNS") -> str:
    body = f"{prefix}{born:%y%m%d}{sex}{state}{consonants}0"
    return body + mx_curp.calc_check_digit(body)


@dataclass(frozen=True)
class Person:
    given_name: str
    family_name: str
    email: str
    phone: str  # national format as a channel would send it
    phone_e164: str
    birth_date: date
    rfc: str
    curp: str
    street: str
    app_user_id: str
    push_token: str
    messenger_id: str
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        register_pii(*self.pii_values())

    def pii_values(self) -> list[str]:
        return [
            self.given_name,
            self.family_name,
            self.email,
            self.email.lower(),
            self.phone,
            self.phone_e164,
            self.phone_e164.lstrip("+"),
            self.rfc,
            self.curp,
            self.street,
            self.birth_date.isoformat(),
            self.app_user_id,
            self.push_token,
            self.messenger_id,
        ]

    def customer(self, *, with_address: bool = False) -> dict[str, object]:
        data: dict[str, object] = {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.email,
            "phone": self.phone,
            "birth_date": self.birth_date.isoformat(),
            "rfc": self.rfc,
        }
        if with_address:
            data["postal_address"] = self.address()
        return data

    def address(self) -> dict[str, str]:
        return {"street": self.street, "city": "Ciudad de México", "state": "CDMX", "postal_code": "06700"}

    def address_canonical(self) -> str:
        return json.dumps({**self.address(), "country": "MX"}, sort_keys=True, ensure_ascii=False)


def person(n: int) -> Person:
    """A distinct, valid person for every n (0 ≤ n < 10000)."""
    born = date(1970 + n % 40, 1 + n % 12, 1 + n % 28)
    letters = "".join(chr(ord("A") + (n // 26**i) % 26) for i in range(3))
    local = f"55{(10000000 + n * 7919) % 100000000:08d}"
    return Person(
        given_name=f"Ximena{letters.title()}",
        family_name=f"Quiroga{letters.title()}",
        email=f"Ximena.Quiroga{n}@Example.MX",
        phone=f"{local[:2]} {local[2:6]} {local[6:]}",
        phone_e164=f"+52{local}",
        birth_date=born,
        rfc=make_rfc("QU" + letters[:2], born),
        curp=make_curp("QU" + letters[:2], born),
        street=f"Calle Durazno {100 + n} Interior {n % 9}",
        app_user_id=f"appuser-{n:06d}-zq",
        push_token=f"pushtok-{n:06d}-fcm",
        messenger_id=f"psid{9000000 + n}",
    )
