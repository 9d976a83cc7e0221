"""Data-subject requests (erasure, access, rectification, objection): pure domain, no AWS."""
