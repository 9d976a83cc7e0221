"""python -m local_runner serve | invoke | demo | smoke — the template, run locally without Docker."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

from local_runner.emulator.provision import ENV_JSON
from local_runner.emulator.runner import LocalRunner, log
from local_runner.emulator.template import TEMPLATE_PATH
from local_runner.emulator.template import load as cfn_load

STOP_DEADLINE_SECONDS = 4.0  # SIGINT/SIGTERM to exit, loaded or not (issue 21: under load it once never came)


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator:
            raise SystemExit(f"--parameter-overrides takes Name=Value, not {pair!r}")
        parameters[name.removeprefix("ParameterKey=")] = value
    return parameters


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-t", "--template", type=Path, default=TEMPLATE_PATH, help="the SAM template (template.yaml)")
    parser.add_argument(
        "--endpoint",
        help="AWS endpoint to use instead of the embedded moto (default: $AWS_ENDPOINT_URL); 'aws' for real AWS",
    )
    parser.add_argument(
        "-n", "--env-vars", type=Path, default=ENV_JSON, help="env.json overrides, as sam local (default: env.json)"
    )
    parser.add_argument("--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE")


def _runner(args: argparse.Namespace, **kwargs: Any) -> LocalRunner:
    return LocalRunner(
        template_path=args.template,
        endpoint=args.endpoint,
        env_vars=args.env_vars if args.env_vars and args.env_vars.exists() else None,
        parameters=_parameters(args.parameter_overrides),
        **kwargs,
    )


def serve(args: argparse.Namespace) -> int:
    from local_runner.emulator.server import ApiServer

    runner = _runner(args, max_containers=args.max_containers).start()
    try:
        server = ApiServer(runner, args.host, args.port, access_log=not args.quiet).start()
    except OSError as error:
        runner.stop()
        log(f"cannot listen on {args.host}:{args.port}: {error.strerror}")
        return 1
    if args.warm and runner.pool is not None:
        runner.pool.warm()
    log(f"AWS: {runner.aws.describe()}")
    for route in runner.gateway.routes.routes if runner.gateway else []:
        log(f"Mounted {route.function} at {server.url}{route.resource} [{route.method}] ({route.auth})")
    for poller in runner.pollers:
        log(f"Polling {poller.name}")
    log(f"Running on {server.url} (health: {server.url}/__health). CTRL+C to quit.")

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        # Woken every 0.2 s: a signal the kernel hands to another thread sets only a flag, which the main thread
        # reads when it runs; blocked in one endless wait, it missed SIGTERM under load
        while not stop.wait(0.2):
            pass
    finally:
        log("Stopping.")
        # A stop is bounded whatever a busy thread holds: past the deadline the process exits anyway (the zygote
        # then kills its containers when it sees the runner go).
        deadline = threading.Timer(STOP_DEADLINE_SECONDS, _exit_now, args=("stopping took too long: exiting",))
        deadline.daemon = True
        deadline.start()
        server.stop()
        runner.stop()
    # Everything is stopped and nothing is kept: skip the interpreter's teardown, which spent 8-18 s freeing what
    # the embedded AWS held after a load, past any stop a developer or CI would wait for.
    _exit_now()


def _exit_now(why: str | None = None) -> NoReturn:
    if why:
        log(why)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def invoke(args: argparse.Namespace) -> int:
    if args.event == "-":
        event = json.load(sys.stdin)
    elif args.event:
        event = json.loads(Path(args.event).read_text())
    else:
        event = {}
    # Function logs go to stderr and the result alone to stdout, as with sam local invoke.
    runner = _runner(args, function_output=sys.stderr, event_sources=False)
    if args.function not in runner.specs:
        log(f"no function {args.function!r} in {args.template.name}; it has: {', '.join(runner.specs)}")
        return 2
    with runner:
        invocation = runner.invoke(args.function, event)
    if invocation.ok:
        print(json.dumps(invocation.result))
        return 0
    print(json.dumps(invocation.error))
    return 1


def aws(args: argparse.Namespace) -> int:
    """Only the AWS side, e.g. for `sam local start-api --env-vars env.json` (Docker) to use."""
    from local_runner.emulator.provision import provision
    from local_runner.emulator.runner import LocalAws

    local = LocalAws(host=args.host, port=args.port)
    try:
        local.start()
    except OSError as error:
        log(f"cannot listen on {args.host}:{args.port}: {error.strerror}")
        return 1
    try:
        provisioned = provision(cfn_load(args.template), local.client, _parameters(args.parameter_overrides))
        log(f"AWS: {local.describe()} (bound to {args.host})")
        for logical, name in {**provisioned.tables, **provisioned.queues}.items():
            log(f"Provisioned {logical}: {name}")
        log("CTRL+C to quit.")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.wait(0.2):  # see serve: the main thread must run to see a signal
            pass
    finally:
        local.stop()
    return 0


def demo(args: argparse.Namespace) -> int:
    from local_runner.commands.demo import run

    return run(people=args.people)


def smoke(args: argparse.Namespace) -> int:
    from local_runner.commands.smoke import run

    return run(stack=args.stack, run_id=args.run_id, timeout=args.timeout)


def load(args: argparse.Namespace) -> int:
    from local_runner.commands.load import main as load_main

    return load_main(args)


def openapi(args: argparse.Namespace) -> int:
    from local_runner.commands.openapi import write

    text = write(args.output)
    if args.output is None:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_runner", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser(
        "serve", help="serve the API like `sam local start-api`, with streams and queues"
    )
    _common(serve_parser)
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("-p", "--port", type=int, default=3000)
    serve_parser.add_argument("--max-containers", type=int, default=1, help="concurrent containers per function")
    serve_parser.add_argument("--warm", action="store_true", help="start every function's container up front")
    serve_parser.add_argument("--quiet", action="store_true", help="no access log")
    serve_parser.set_defaults(run=serve)

    invoke_parser = commands.add_parser("invoke", help="invoke one function once, like `sam local invoke`")
    invoke_parser.add_argument("function", help="the function's logical id in the template")
    invoke_parser.add_argument("-e", "--event", help="event JSON file ('-' for stdin; default: {})")
    _common(invoke_parser)
    invoke_parser.set_defaults(run=invoke)

    aws_parser = commands.add_parser("aws", help="only the embedded AWS, provisioned, for sam local (Docker)")
    aws_parser.add_argument("-t", "--template", type=Path, default=TEMPLATE_PATH)
    aws_parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to let Docker containers reach it")
    aws_parser.add_argument("-p", "--port", type=int, default=5000, help="env.json expects 5000")
    aws_parser.add_argument("--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE")
    aws_parser.set_defaults(run=aws)

    demo_parser = commands.add_parser("demo", help="every channel's sample touchpoints through the local API")
    demo_parser.add_argument("--people", type=int, default=6, help="generated sample people (default 6)")
    demo_parser.set_defaults(run=demo)

    smoke_parser = commands.add_parser(
        "smoke", help="one synthetic person end to end (touchpoints, classification, erasure) on a stack or locally"
    )
    smoke_parser.add_argument("--stack", help="a deployed stack's name (default, or 'local': the local runner)")
    smoke_parser.add_argument("--run-id", help="10 hex digits naming the synthetic person (default: random)")
    smoke_parser.add_argument("--timeout", type=float, help="seconds to wait for each asynchronous step")
    smoke_parser.set_defaults(run=smoke)

    from local_runner.commands.load import add_arguments as load_arguments

    load_parser = commands.add_parser("load", help="the runner under load from every channel, then verified")
    load_arguments(load_parser)
    load_parser.set_defaults(run=load)

    openapi_parser = commands.add_parser("openapi", help="the API's OpenAPI document, from the functions and template")
    openapi_parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    openapi_parser.set_defaults(run=openapi)

    args = parser.parse_args(argv)
    from local_runner.emulator.endpoint_probe import EndpointUnfit

    try:
        return int(args.run(args))
    except EndpointUnfit as unfit:  # whichever command met it (serve, demo, invoke, smoke, load): one line
        log(str(unfit))
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
