"""Carries erasures out from the erasure queue, resumably."""

from touchpoints.compliance_worker import erasure_worker

lambda_handler = erasure_worker()
