"""How many profiles sit in each state, per channel of origin: for business users, IAM-authenticated."""

from touchpoints.wiring.reports import report_function

app, lambda_handler = report_function()
