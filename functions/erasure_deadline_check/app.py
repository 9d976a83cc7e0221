"""Hourly: how many open erasures are near (or past) their legal deadline, as metrics for the ops alarm."""

from touchpoints.wiring.erasure import erasure_deadline_check

lambda_handler = erasure_deadline_check()
