"""Carries erasures out from the erasure queue, resumably."""

from touchpoints.wiring.erasure import erasure_worker

lambda_handler = erasure_worker()
