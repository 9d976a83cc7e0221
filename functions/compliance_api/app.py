"""Data-subject requests of the compliance team (IAM auth, compliance operator role only)."""

from touchpoints.wiring.compliance_api import compliance_function

app, lambda_handler = compliance_function()
