"""The local runner: an AWS (embedded moto, or an endpoint), the template's resources, functions,
API, streams and queues, wired the way the template says. Used by `serve`, `invoke` and `demo`."""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config

from local_runner.emulator import endpoint_probe
from local_runner.emulator import template as cfn
from local_runner.emulator.apigateway import Gateway, RouteTable
from local_runner.emulator.moto_fixes import Housekeeping, dynamodb_written, hold_api_keys, install
from local_runner.emulator.pollers import QueuePoller, StreamPoller
from local_runner.emulator.principals import LocalPrincipal, local_principals
from local_runner.emulator.provision import (
    ENV_JSON,
    LOCAL_ACCOUNT,
    LOCAL_REGION,
    LocalApiKey,
    Provisioned,
    load_env_json,
    provision,
)
from local_runner.emulator.template import REPO_ROOT, TEMPLATE_PATH, FunctionSpec
from local_runner.emulator.workers import FunctionPool, Invocation

REAL_AWS = "aws"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# What a function process inherits from the developer's shell; Lambda passes nothing else.
_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_REAL_AWS_PASSTHROUGH = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# botocore's own per-service endpoint variables (AWS_ENDPOINT_URL_<ID>), e.g. DynamoDB Local for DynamoDB only.
_SERVICE_IDS = {
    "dynamodb": "DYNAMODB",
    "dynamodbstreams": "DYNAMODB_STREAMS",
    "kms": "KMS",
    "secretsmanager": "SECRETS_MANAGER",
    "sqs": "SQS",
    "ssm": "SSM",
}
_DOCKER_HOST = re.compile(r"^https?://host\.docker\.internal(?::\d+)?")
_CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
_DYNAMODB_READS = frozenset(
    (
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "DescribeTable",
        "ListTables",
        "DescribeTimeToLive",
    )
)
# Template parameters whose AWS default does not suit a laptop: pages served from localhost may post (CORS).
LOCAL_PARAMETERS = {"WebAllowedOrigins": "http://localhost:8080,http://127.0.0.1:8080"}
SWEEP_SECONDS = 30.0  # how often the embedded moto drops what AWS would no longer keep (moto_fixes)


class LocalAws:
    """Where the functions' AWS is: moto in this process on a free loopback port, or a given endpoint."""

    def __init__(
        self, endpoint: str | None = None, region: str = LOCAL_REGION, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.requested = endpoint or os.environ.get("AWS_ENDPOINT_URL") or None
        self.region = region
        if self.real:
            self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or region
        self.host, self.port = host, port
        self.endpoint_url: str | None = None
        self._server: Any = None

    @property
    def embedded(self) -> bool:
        return self.requested is None

    @property
    def real(self) -> bool:
        return self.requested == REAL_AWS

    def start(self) -> None:
        if self.embedded:
            self._server = _SerializedMotoServer(self.host, self.port, Housekeeping(LOCAL_ACCOUNT, self.region))
            self.endpoint_url = f"http://127.0.0.1:{self._server.port}"
        elif not self.real:
            self.endpoint_url = self.requested

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def hold_api_keys(self, keys: Iterable[LocalApiKey]) -> None:
        """API Gateway holds the stack's API keys: the web function reads its own (moto_fixes.hold_api_keys)."""
        if self.embedded:
            hold_api_keys(keys, LOCAL_ACCOUNT, self.region)

    def trim_streams_read_by(self, read_up_to: Callable[[], Mapping[str, int]]) -> None:
        """Tell the embedded moto what its stream consumers have read (per stream ARN), so it can trim that."""
        if self._server is not None:
            self._server.read_up_to = read_up_to

    @property
    def stream_records_trimmed(self) -> int | None:
        return self._server.housekeeping.trimmed_stream_records if self._server is not None else None

    @property
    def dynamodb_elsewhere(self) -> bool:
        """DynamoDB is an endpoint of the developer's (AWS_ENDPOINT_URL, or AWS_ENDPOINT_URL_DYNAMODB alone)."""
        return not self.real and (not self.embedded or "DYNAMODB" in self._service_overrides())

    def describe(self) -> str:
        if self.embedded:
            return f"embedded moto at {self.endpoint_url}"
        return "real AWS (your credentials)" if self.real else f"endpoint {self.endpoint_url}"

    def _service_overrides(self) -> dict[str, str]:
        overrides = {
            sid: os.environ[f"AWS_ENDPOINT_URL_{sid}"]
            for sid in _SERVICE_IDS.values()
            if os.environ.get(f"AWS_ENDPOINT_URL_{sid}")
        }
        if "DYNAMODB" in overrides:
            overrides.setdefault("DYNAMODB_STREAMS", overrides["DYNAMODB"])  # DynamoDB Local serves both
        return overrides

    def endpoint_for(self, service: str) -> str | None:
        return self._service_overrides().get(_SERVICE_IDS.get(service, ""), self.endpoint_url)

    def client(self, service: str) -> Any:
        """A client for the runner's own calls (provisioning, pollers, the demo's reads)."""
        credentials: dict[str, str] = {}
        if not self.real:
            credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
        session = boto3.session.Session(region_name=self.region, **credentials)
        return session.client(service, endpoint_url=self.endpoint_for(service), config=_CLIENT_CONFIG)

    def function_environment(self) -> dict[str, str]:
        """What a function needs to reach this AWS: credentials and endpoints.

        ENDPOINT_URL is the template's own variable; AWS_ENDPOINT_URL also covers clients the code
        does not build itself (Powertools utilities). With per-service endpoints, ENDPOINT_URL stays
        empty so botocore can pick each service's own.
        """
        if self.real:
            return {k: os.environ[k] for k in _REAL_AWS_PASSTHROUGH if k in os.environ} | {"ENDPOINT_URL": ""}
        overrides = self._service_overrides()
        environment = {**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": str(self.endpoint_url)}
        environment["ENDPOINT_URL"] = "" if overrides else str(self.endpoint_url)
        environment |= {f"AWS_ENDPOINT_URL_{sid}": url for sid, url in overrides.items()}
        return environment


class _SerializedMotoServer:
    """moto's server on a background thread, one AWS request at a time.

    moto's backends are not thread-safe: a TransactWriteItems that fails restores a copy of every
    table taken when it began, losing what other requests wrote meanwhile. Function containers run
    concurrently, so requests are serialized here, except SQS long polls, which only wait. Under the
    same lock, a sweep every SWEEP_SECONDS trims what moto would keep forever (see moto_fixes).
    """

    def __init__(self, host: str, port: int, housekeeping: Housekeeping) -> None:
        from moto.moto_server.threaded_moto_server import MotoRequestHandler
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        install()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_app = DomainDispatcherApplication(create_backend_app)
        lock = self._lock = threading.Lock()
        self.housekeeping = housekeeping
        self.read_up_to: Callable[[], Mapping[str, int]] = dict
        self._stopping = threading.Event()

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target.endswith(".ReceiveMessage"):
                return moto_app(environ, start_response)
            with lock:
                service, _, operation = target.partition(".")
                if service.startswith("DynamoDB_") and operation not in _DYNAMODB_READS:
                    dynamodb_written()
                return list(moto_app(environ, start_response))

        self._server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        self._server.block_on_close = False  # keep-alive connections of containers and pollers: see server._Server
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        self._sweeper = threading.Thread(target=self._sweep_every, name="moto-housekeeping", daemon=True)
        self._sweeper.start()

    def sweep(self) -> None:
        read_up_to = self.read_up_to()
        with self._lock:
            self.housekeeping.sweep(read_up_to)

    def _sweep_every(self) -> None:
        while not self._stopping.wait(SWEEP_SECONDS):
            try:
                self.sweep()
            except Exception as error:  # never let housekeeping take the AWS down
                log(f"moto housekeeping: {type(error).__name__}")

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class LocalRunner:
    """Everything `sam local start-api` runs, plus the event source mappings, without Docker."""

    def __init__(
        self,
        *,
        template_path: Path = TEMPLATE_PATH,
        endpoint: str | None = None,
        env_vars: Path | None = ENV_JSON,
        parameters: Mapping[str, str] | None = None,
        max_containers: int = 1,
        function_output: IO[Any] | None = None,
        event_sources: bool = True,
    ) -> None:
        self.template = cfn.load(template_path)
        self.specs = {spec.logical_id: spec for spec in cfn.functions(self.template)}
        self.aws = LocalAws(endpoint)
        self.env_vars = load_env_json(env_vars) if env_vars is not None else {}
        self.parameters = {**LOCAL_PARAMETERS, **(parameters or {})}
        self.max_containers = max_containers
        self.function_output = function_output
        self.event_sources = event_sources
        self.provisioned: Provisioned | None = None
        self.principals: dict[str, LocalPrincipal] = {}
        self.pool: FunctionPool | None = None
        self.gateway: Gateway | None = None
        self.pollers: list[StreamPoller | QueuePoller] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalRunner:
        self.aws.start()
        try:
            if self.aws.dynamodb_elsewhere:
                endpoint_probe.check(self.template, self.aws.client, str(self.aws.endpoint_for("dynamodb")))
            self.provisioned = provision(self.template, self.aws.client, self.parameters, self.aws.region)
            self.aws.hold_api_keys(self.provisioned.api_keys.values())
            self.principals = local_principals(self.template, self.provisioned)
            self.pool = FunctionPool(
                self.specs, self.environment, max_containers=self.max_containers, output=self.function_output
            )
            self.gateway = self._gateway(self.provisioned)
            self.aws.trim_streams_read_by(self._read_up_to)
            if self.event_sources:
                self.pollers = self._pollers(self.provisioned)
                for poller in self.pollers:
                    poller.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Within a few seconds whatever runs: containers are killed, busy ones too, before pollers are joined."""
        for poller in self.pollers:
            poller.stop()
        if self.pool is not None:
            self.pool.close()
        for poller in self.pollers:
            poller.join(timeout=2)
        self.aws.stop()

    def __enter__(self) -> LocalRunner:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ functions
    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        """A function container's environment: as Lambda sets it, then the template's (+ env.json), then AWS's."""
        assert self.provisioned is not None
        layer_paths = [str(path) for path in cfn.layer_paths(self.template, spec)]
        environment = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
        environment |= {
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *layer_paths]),
            "PYTHONUNBUFFERED": "1",
            "AWS_REGION": self.aws.region,
            "AWS_DEFAULT_REGION": self.aws.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.logical_id}",
            "LAMBDA_TASK_ROOT": str(REPO_ROOT / spec.code_uri),
            "_HANDLER": spec.handler,
            "TZ": "UTC",
        }
        environment |= self._from_docker(self.provisioned.environment(spec, overrides=self.env_vars))
        environment |= self.aws.function_environment()
        environment["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon locally
        return environment

    def _from_docker(self, environment: dict[str, str]) -> dict[str, str]:
        """env.json is written for sam local in Docker, where the local AWS is host.docker.internal:5000;
        here that AWS is the runner's, so such URLs (e.g. a queue's) are re-pointed at it."""
        if not self.aws.endpoint_url:
            return environment
        return {k: _DOCKER_HOST.sub(self.aws.endpoint_url, v) for k, v in environment.items()}

    def invoke(self, function: str, event: Mapping[str, Any]) -> Invocation:
        assert self.pool is not None
        if function not in self.specs:
            raise KeyError(f"no function {function!r} in the template; it has: {', '.join(self.specs)}")
        return self.pool.invoke(function, event)

    # ------------------------------------------------------------------ wiring
    def _gateway(self, provisioned: Provisioned) -> Gateway:
        apis = cfn.resources_of_type(self.template, "AWS::Serverless::Api")
        stage, binary_types = "v1", []
        for resource in apis.values():
            props = resource.get("Properties", {})
            stage = str(provisioned.intrinsics.resolve(props.get("StageName", stage)))
            binary_types.extend(props.get("BinaryMediaTypes", []))
        return Gateway(
            RouteTable(list(self.specs.values())),
            provisioned.api_keys,
            self.principals,
            stage,
            binary_types,
            apis=cfn.apis(self.template),
            invoke=self._invoke_authorizer,
        )

    def _invoke_authorizer(self, function: str, event: dict[str, Any]) -> tuple[bool, Any]:
        invocation = self.invoke(function, event)
        return (True, invocation.result) if invocation.ok else (False, invocation.error)

    def _pollers(self, provisioned: Provisioned) -> list[StreamPoller | QueuePoller]:
        assert self.pool is not None
        pollers: list[StreamPoller | QueuePoller] = []
        attributes = provisioned.intrinsics.attributes
        for spec in self.specs.values():
            for stream in spec.streams:
                on_failure = provisioned.queues.get(stream.on_failure or "")
                pollers.append(
                    StreamPoller(
                        self.pool,
                        spec.logical_id,
                        stream,
                        attributes[(stream.table, "StreamArn")],
                        self.aws.client,
                        self.aws.region,
                        on_failure,
                        verify_reads=not self.aws.embedded,
                    )
                )
            for queue in spec.queues:
                pollers.append(
                    QueuePoller(
                        self.pool,
                        spec.logical_id,
                        queue,
                        provisioned.queues[queue.queue],
                        self.aws.client,
                        self.aws.region,
                    )
                )
        return pollers

    def _read_up_to(self) -> dict[str, int]:
        """Per stream, what every poller of it has read: older records may be trimmed."""
        by_stream: dict[str, list[int | None]] = {}
        for poller in self.pollers:
            if isinstance(poller, StreamPoller):
                by_stream.setdefault(poller.stream_arn, []).append(poller.read_up_to)
        return {arn: min(n for n in seen if n is not None) for arn, seen in by_stream.items() if None not in seen}

    # ------------------------------------------------------------------ state
    @property
    def idle(self) -> bool:
        return all(p.idle for p in self.pollers) and not (self.pool is not None and self.pool.busy)

    def wait_until_idle(self, timeout: float = 30.0, quiet: float = 0.8) -> bool:
        """Wait until no invocation runs and every poller has found nothing to do for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.idle:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet:
                    return True
            else:
                quiet_since = None
            time.sleep(0.05)
        return False

    def health(self) -> dict[str, Any]:
        """What the /__health endpoint reports: enough for a test or script to find and inspect the local AWS."""
        assert self.provisioned is not None
        return {
            "status": "ok",
            "pid": os.getpid(),
            "aws_endpoint": self.aws.endpoint_url,
            "region": self.aws.region,
            "idle": self.idle,
            "invocations": self.pool.invocations if self.pool else 0,
            "stream_records_trimmed": self.aws.stream_records_trimmed,
            "functions": sorted(self.specs),
            "routes": [
                {"method": r.method, "path": r.resource, "function": r.function, "auth": r.auth}
                for r in (self.gateway.routes.routes if self.gateway else [])
            ],
            "principals": [
                {"name": p.name, "access_key_id": p.access_key_id, "arn": p.arn} for p in self.principals.values()
            ],
            "api_keys": {key.logical_id: key.value for key in self.provisioned.api_keys.values()},
            "tables": self.provisioned.tables,
            "queues": self.provisioned.queues,
            "pollers": [
                {"name": p.name, "idle": p.idle, "batches": p.delivered, "errors": p.errors} for p in self.pollers
            ],
        }


def log(message: str) -> None:
    print(f"[local-runner] {message}", file=sys.stderr, flush=True)
