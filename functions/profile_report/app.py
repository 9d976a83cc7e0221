"""How many profiles sit in each state, per channel of origin: for business users, IAM-authenticated."""

from touchpoints.api.state_report import state_report_api
from touchpoints.observability import api_entrypoint

app = state_report_api()
lambda_handler = api_entrypoint(app)
