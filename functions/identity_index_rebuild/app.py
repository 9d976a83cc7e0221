"""Operator-invoked: rebuilds the identity index (no backups) from the profile table and the key vault."""

from touchpoints.wiring.identity_index_rebuild import identity_index_rebuild

lambda_handler = identity_index_rebuild()
