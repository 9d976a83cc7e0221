"""The compliance policy (data in policies/compliance.yaml): regulations and their deadlines."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from touchpoints.policies import parse_yaml, policy_text

_SATURDAY = 5


class Regulation(StrEnum):
    GDPR = "gdpr"
    CCPA = "ccpa"
    LFPDPPP = "lfpdppp"


class _Regulation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    basis: str
    deadline_days: int = Field(gt=0, le=366)
    day_count: Literal["calendar", "business"]


class _Erasure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    suppress_by_default: bool
    page_size: int = Field(gt=0, le=10_000)
    warn_days_before_deadline: int = Field(ge=0, le=366)


class _Export(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    inline_max_bytes: int = Field(ge=0, le=4_194_304)
    link_seconds: int = Field(ge=60, le=3600)


class CompliancePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    regulations: dict[Regulation, _Regulation]
    erasure: _Erasure
    export: _Export

    def model_post_init(self, _context: object) -> None:
        if missing := set(Regulation) - self.regulations.keys():
            raise ValueError(f"compliance policy lacks regulations {sorted(missing)}")

    def deadline(self, regulation: Regulation, received: date) -> date:
        """The last day on which a request received on `received` may be answered."""
        rule = self.regulations[regulation]
        if rule.day_count == "calendar":
            return received + timedelta(days=rule.deadline_days)
        day, left = received, rule.deadline_days
        while left:
            day += timedelta(days=1)
            if day.weekday() < _SATURDAY:
                left -= 1
        return day


@lru_cache(maxsize=1)
def load_compliance_policy() -> CompliancePolicy:
    text = policy_text("compliance.yaml")
    return CompliancePolicy.model_validate(parse_yaml(text))
