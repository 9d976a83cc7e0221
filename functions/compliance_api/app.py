"""Data-subject requests of the compliance team (IAM auth, compliance operator role only)."""

from touchpoints.api.compliance import compliance_api
from touchpoints.observability import api_entrypoint

app = compliance_api()
lambda_handler = api_entrypoint(app)
