"""Merges profiles found to be one person: claims from the profile stream, merges from the merge queue."""

from touchpoints.wiring.merge_worker import merge_worker

lambda_handler = merge_worker()
