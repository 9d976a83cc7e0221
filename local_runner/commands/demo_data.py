"""Generated sample people and what they do on each channel, for the demo.

Invented but valid data (RFC and CURP check digits, Mexican phone numbers). Nothing here is a
real person's; still, the demo treats it as personal data and never prints it. The tests
register every value of `DemoPerson.pii_values()` in their leak checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from stdnum.mx import curp as mx_curp
from stdnum.mx import rfc as mx_rfc

_GIVEN = ["Valeria", "Mateo", "Renata", "Santiago", "Jimena", "Emiliano", "Regina", "Leonardo"]
_FAMILY = ["Ozuna", "Barragan", "Ceballos", "Duarte", "Echeverria", "Fuentes", "Galindo", "Hinojosa"]


@dataclass(frozen=True)
class DemoPerson:
    n: int
    given_name: str
    family_name: str
    email: str
    phone: str
    birth_date: date
    rfc: str
    curp: str
    street: str
    app_user_id: str
    push_token: str
    messenger_id: str

    def pii_values(self) -> list[str]:
        digits = "".join(c for c in self.phone if c.isdigit())
        return [
            self.given_name,
            self.family_name,
            self.email,
            self.email.lower(),
            self.phone,
            digits,
            f"+52{digits}",
            self.rfc,
            self.curp,
            self.street,
            self.birth_date.isoformat(),
            self.app_user_id,
            self.push_token,
            self.messenger_id,
        ]

    def customer(self, *, with_address: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.email,
            "phone": self.phone,
            "birth_date": self.birth_date.isoformat(),
            "rfc": self.rfc,
        }
        if with_address:
            data["postal_address"] = {
                "street": self.street,
                "city": "Guadalajara",
                "state": "Jalisco",
                "postal_code": "44100",
            }
        return data


def _check_digit_rfc(body: str) -> str:
    return body + mx_rfc.calc_check_digit(body)


def _check_digit_curp(body: str) -> str:
    return body + mx_curp.calc_check_digit(body)


def demo_person(n: int) -> DemoPerson:
    """A distinct, valid, invented person for every n ≥ 0 (the load command uses thousands).

    Past the first 64, each has a birth date of its own and another RFC homoclave and CURP state,
    so no two share an identifier.
    """
    given, family = _GIVEN[n % len(_GIVEN)], _FAMILY[(n // len(_GIVEN) + n) % len(_FAMILY)]
    born = date(1965 + (n * 7) % 40, 1 + n % 12, 1 + (n * 3) % 28) if n < 64 else date(1940, 1, 1) + timedelta(n)
    initials = f"{family[:2]}{given[0]}X".upper()
    homoclave, state = ("D", "JC") if n < 64 else ("L", "NL")
    local = f"33{(21000000 + n * 104729) % 100000000:08d}"
    sex = "M" if given.endswith("a") else "H"
    return DemoPerson(
        n=n,
        given_name=f"{given}Demo{n}",
        family_name=f"{family}Demo{n}",
        email=f"{given.lower()}.{family.lower()}.demo{n}@ejemplo.mx",
        phone=f"{local[:2]} {local[2:6]} {local[6:]}",
        birth_date=born,
        rfc=_check_digit_rfc(f"{initials}{born:%y%m%d}{homoclave}{1 + n % 9}"),
        curp=_check_digit_curp(f"{initials}{born:%y%m%d}{sex}{state}RNS0"),
        street=f"Avenida Chapultepec {200 + n} Depto {n % 7 + 1}",
        app_user_id=f"demo-app-{n:04d}-qx",
        push_token=f"demo-push-{n:04d}-apns",
        messenger_id=f"psid{7300000 + n}",
    )


_FICTION_AREA_CODES = ("202", "212", "213", "305", "312", "415", "503", "617", "702", "808")


def synthetic_person(run: str) -> DemoPerson:
    """The smoke test's person for one run (`run`: 10 hex digits), who cannot be anybody real.

    The names say so; the email is at example.com (reserved, RFC 2606); the phone is in the
    555-0100…0199 range the North American plan keeps for fiction; RFC and CURP start with "SMKT",
    which no person's can (their second letter is a vowel of the surname), yet carry valid dates and
    check digits. Identifiers carry the run, so two runs never share a profile.
    """
    number = int(run, 16)
    born = date(1950, 1, 1) + timedelta(days=number % 17000)  # before 2000: CURP's 17th character is a digit
    homoclave = run[:2].upper().replace("0", "S")
    area = _FICTION_AREA_CODES[number % len(_FICTION_AREA_CODES)]
    return DemoPerson(
        n=number % 100000,
        given_name=f"Smoke{run}",
        family_name=f"Synthetic{run}",
        email=f"smoke.test.{run}@example.com",
        phone=f"+1 {area} 555 01{number % 100:02d}",
        birth_date=born,
        rfc=_check_digit_rfc(f"SMKT{born:%y%m%d}{homoclave}"),
        curp=_check_digit_curp(f"SMKT{born:%y%m%d}HJCRNS0"),
        street=f"Calle Sintetica {number % 900 + 100}",
        app_user_id=f"smoke-app-{run}",
        push_token=f"smoke-push-{run}",
        messenger_id=f"psid-smoke-{run}",
    )


def stack_secret(secretsmanager: Any) -> str:
    """The stack's one secret: the tokenization secret (the demo and the smoke test sign vouches with it)."""
    [secret] = secretsmanager.list_secrets()["SecretList"]
    return str(secretsmanager.get_secret_value(SecretId=secret["ARN"])["SecretString"])


def vouching_keys(tokenization_secret: str) -> Callable[[str], bytes]:
    """Each channel's vouching key, derived as docs/channel-teams.md, The API, says (what the company's back end holds).

    Written here from that page, as a back end would write it, rather than imported from the layer;
    tests/unit/test_trust_policy.py holds it equal to `Tokenizer.vouching_key`.
    """
    secret = tokenization_secret.encode()
    return lambda channel: hmac.digest(secret, f"vouching-key\x1f{channel}".encode(), hashlib.sha256)


def back_end_proof(vouching_key: bytes, channel: str, event_id: str, kind: str, normalized_value: str) -> str:
    """A vouch's proof as docs/channel-teams.md says: base64url, no padding, of HMAC-SHA256 over its fields."""
    message = f"{channel}\x1f{event_id}\x1f{kind}\x1f{normalized_value}".encode()
    return base64.urlsafe_b64encode(hmac.digest(vouching_key, message, hashlib.sha256)).rstrip(b"=").decode()


@dataclass(frozen=True)
class Touch:
    """One request of the scenario: a channel's route and its body."""

    channel: str
    resource: str  # "touchpoints" or "consents"
    body: dict[str, Any]
    vouch_email: str | None = None  # the channel's back end vouches for this email (a login, a confirmation)
    # Sent once what came before is classified, as a visit minutes later finds it in production
    later: bool = False

    @property
    def path(self) -> str:
        return f"/v1/{self.channel}/{self.resource}"

    def signed(self, vouching_key: Callable[[str], bytes] | None) -> dict[str, Any]:
        """The body, with the back end's proof for the vouched email (policies/trust.yaml); unvouched without a key."""
        if self.vouch_email is None or vouching_key is None:
            return self.body
        email = self.vouch_email.lower()  # the demo's addresses are ASCII: lower-casing is their normal form
        proof = back_end_proof(vouching_key(self.channel), self.channel, self.body["event_id"], "email", email)
        return {**self.body, "verified": [{"kind": "email", "proof": proof}]}


_ALL_GRANTED = [
    {"purpose": "personalization", "granted": True},
    {"purpose": "analytics", "granted": True},
    {"purpose": "marketing", "channel": "all", "granted": True},
]


RETURNS_FROM_MINUTE = 10  # a journey's touchpoints are dated minutes 0-7 of yesterday; its returns after them


def _at(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(days=1) + timedelta(minutes=minutes)).isoformat()


def _id(prefix: str) -> str:
    return f"demo-{prefix}-{uuid.uuid4().hex[:12]}"


def journey(p: DemoPerson) -> list[Touch]:
    """What this person does: different journeys, so the profiles land in different states."""
    kind = p.n % 6
    if kind == 0:  # signs up on the web, buys in the store with a digital ticket, opens the app and a push
        return [
            Touch("web", "touchpoints", _web(p, "sign_up")),
            Touch("store", "touchpoints", _store(p, identified=True)),
            Touch("app", "touchpoints", _app(p), vouch_email=p.email),  # the app's login
            Touch("push", "touchpoints", _push(p)),
        ]
    if kind == 1:  # clicks an email and an SMS, then complains on WhatsApp
        return [
            Touch("email", "touchpoints", _email(p)),
            Touch("sms", "touchpoints", _sms(p)),
            Touch("contact-center", "touchpoints", _contact_center(p)),
        ]
    if kind == 2:  # an anonymous cash buyer
        return [Touch("store", "touchpoints", _store(None))]
    if kind == 3:  # browses anonymously, logs in on the app, then buys online: the anonymous visit merges in
        return [
            Touch(
                "web",
                "touchpoints",
                _web(p, "page_view", customer=None, consent=[{"purpose": "analytics", "granted": True}]),
            ),
            Touch("app", "touchpoints", _app(p), vouch_email=p.email, later=True),  # the app's login
            Touch("web", "touchpoints", _web(p, "purchase"), vouch_email=p.email),  # logged in at the checkout
        ]
    if kind == 4:  # subscribes to the newsletter, then records consent in the preference centre
        return [
            Touch("web", "touchpoints", _web(p, "newsletter_signup", customer={"email": p.email})),
            Touch("web", "consents", _consent(p), vouch_email=p.email),  # the preference centre's emailed link
        ]
    return [  # identifies at a store counter without marketing consent, then opens an email
        Touch("store", "touchpoints", _store(p, identified=True, marketing=False)),
        Touch("email", "touchpoints", _email(p)),
    ]


def returning(p: DemoPerson, count: int) -> list[Touch]:
    """`count` more touchpoints of a customer the stack already knows, as they come back day after day: a retailer's
    steady state, where most touchpoints are of known people. An anonymous cash buyer never comes back as
    themselves (their next purchase is a new anonymous profile), so they have none."""
    kind = p.n % 6
    repeats: list[Callable[[], Touch]] = {
        0: [
            lambda: Touch("store", "touchpoints", _store(p, identified=True)),
            lambda: Touch("app", "touchpoints", _app(p), vouch_email=p.email),
            lambda: Touch("push", "touchpoints", _push(p)),
        ],
        1: [lambda: Touch("email", "touchpoints", _email(p)), lambda: Touch("sms", "touchpoints", _sms(p))],
        2: [],
        3: [
            lambda: Touch("app", "touchpoints", _app(p), vouch_email=p.email),
            lambda: Touch("web", "touchpoints", _web(p, "purchase"), vouch_email=p.email),
        ],
        4: [lambda: Touch("email", "touchpoints", _email(p))],
        5: [
            lambda: Touch("email", "touchpoints", _email(p)),
            lambda: Touch("store", "touchpoints", _store(p, identified=True, marketing=False)),
        ],
    }[kind]
    touches = [repeats[n % len(repeats)]() for n in range(count)] if repeats else []
    for n, touch in enumerate(touches):  # each later than the journey (minutes 0-7) and than the return before it
        touch.body["occurred_at"] = _at(RETURNS_FROM_MINUTE + n)
    return touches


def every_channel(p: DemoPerson) -> list[Touch]:
    """One touchpoint per channel, all of one person: signs up on the web first, so the web is the origin."""
    return [
        Touch("web", "touchpoints", _web(p, "sign_up")),
        Touch("store", "touchpoints", _store(p, identified=True)),
        Touch("app", "touchpoints", _app(p), vouch_email=p.email),  # the app's login
        Touch("push", "touchpoints", _push(p)),
        Touch("email", "touchpoints", _email(p)),
        Touch("sms", "touchpoints", _sms(p)),
        Touch("contact-center", "touchpoints", _contact_center(p)),
    ]


def _web(p: DemoPerson, action: str, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": _id("web"),
        "occurred_at": _at(0),
        "action": action,
        "anonymous_id": f"anon-{p.app_user_id}",
        "page_path": "/registro" if action == "sign_up" else "/checkout",
        "customer": p.customer(with_address=True),
        "consent": [dict(c) for c in _ALL_GRANTED],
    }
    if action == "purchase":
        payload["order"] = {"order_id": f"ORD-{p.n:05d}", "total": 1899.0, "currency": "MXN", "home_delivery": True}
    payload.update(extra)
    return payload


def _app(p: DemoPerson) -> dict[str, Any]:
    return {
        "event_id": _id("app"),
        "occurred_at": _at(1),
        "app_user_id": p.app_user_id,
        "push_token": p.push_token,
        "action": "app_open",
        "screen": "home",
        "customer": {"email": p.email},
        "consent": [dict(c) for c in _ALL_GRANTED],
    }


def _push(p: DemoPerson) -> dict[str, Any]:
    return {
        "event_id": _id("psh"),
        "occurred_at": _at(2),
        "push_token": p.push_token,
        "app_user_id": p.app_user_id,
        "event": "open",
        "campaign_id": "buen-fin-2026",
    }


def _email(p: DemoPerson) -> dict[str, Any]:
    return {
        "event_id": _id("eml"),
        "occurred_at": _at(3),
        "recipient": p.email,
        "event": "click",
        "campaign_id": "buen-fin-2026",
    }


def _sms(p: DemoPerson) -> dict[str, Any]:
    return {"event_id": _id("sms"), "occurred_at": _at(4), "phone": p.phone, "event": "click"}


def _contact_center(p: DemoPerson) -> dict[str, Any]:
    return {
        "event_id": _id("cc"),
        "occurred_at": _at(5),
        "medium": "whatsapp",
        "caller": {"phone": p.phone, "whatsapp": p.phone, "messenger_id": p.messenger_id, "email": p.email},
        "reason": "complaint",
        "case_id": f"CASE-{p.n:04d}",
        "consent": [
            {"purpose": "personalization", "granted": True},
            {"purpose": "marketing", "channel": "all", "granted": True},
        ],
    }


def _store(p: DemoPerson | None, *, identified: bool = False, marketing: bool = True) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": _id("pos"),
        "occurred_at": _at(6),
        "store_id": "TDA-017",
        "ticket_folio": f"F-{uuid.uuid4().hex[:8].upper()}",
        "total": 349.5,
        "payment_method": "card" if identified else "cash",
    }
    if p is not None and identified:
        payload["customer"] = {"rfc": p.rfc, "email": p.email, "given_name": p.given_name}
        payload["consent"] = [{"purpose": "personalization", "granted": True}]
        if marketing:
            payload["consent"].append({"purpose": "marketing", "channel": "all", "granted": True})
            payload["digital_ticket"] = "email"
    return payload


def _consent(p: DemoPerson) -> dict[str, Any]:
    return {
        "event_id": _id("cns"),
        "occurred_at": _at(7),
        "subject": {"email": p.email},
        "consent": [{"purpose": "marketing", "channel": "email", "granted": True}],
    }


def program_registration(p: DemoPerson, program: str, campaign_id: str) -> Touch:
    """A person invited by a program's campaign answers on the web through the emailed link: registers the ticket
    of a store purchase (ticket registration) or signs up (any other program), with their name. The site's back end
    vouches for the email the link was sent to; the touchpoint names the program and campaign it answers."""
    extra: dict[str, Any] = {"program": program, "campaign_id": campaign_id}
    if program == "ticket_registration":
        ticket = {"store_id": "TDA-017", "folio": f"F-{uuid.uuid4().hex[:8].upper()}"}
        body = _web(p, "ticket_registration", ticket=ticket, **extra)
    else:
        body = _web(p, "sign_up", **extra)
    return Touch("web", "touchpoints", body, vouch_email=p.email)
