"""Composition roots: one module per function family, each building what its functions use, once per container.

Every handler in `functions/` imports exactly one of these: `channels` (the seven channel functions, with
`snapstart`'s hooks), `sdk_authorizer`, `classifier` (classifier and reclassifier), `reports`, `compliance_api`,
`erasure` (erasure worker and deadline check), `merge_worker`, `identity_index_rebuild`. `container` holds what
they share: `per_container`, `reset`, the AWS clients and the keyring.
"""
