"""The compliance operator's command-line tool: data-subject requests against a deployed stack or the local runner.

Self-contained (boto3, botocore, requests): it imports nothing of the service's own code, so an operator can
run it from a checkout without the Lambda layer. `python -m compliance_cli --help`.
"""
