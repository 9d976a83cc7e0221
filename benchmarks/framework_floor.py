"""The cold-start floor of the stack every function is built on, with none of our code.

boto3, Powertools' REST resolver with OpenAPI validation, one pydantic body model, and Logger, Metrics and
Tracer configured as `touchpoints.observability` configures them. The cold start benchmark imports this module
to show how much of a handler's import is the framework and how much is ours.
"""

import boto3  # noqa: F401 - each handler needs it, and the baseline is measured against it
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel

logger = Logger()
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True)


class Touchpoint(BaseModel):
    event_id: str


@app.post("/v1/floor/touchpoints")
def post_touchpoint(touchpoint: Touchpoint) -> dict[str, str]:
    return {"event_id": touchpoint.event_id}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> dict:
    return app.resolve(event, context)
