"""One cold container, in a fresh interpreter: import the handler, then answer a first and a second request.

Run by the cold start benchmark as `python -m benchmarks.first_request <web|bare>`; prints JSON. Imports that a
handler defers to its first request show up here, so moving work out of import time cannot hide it.
"""

from __future__ import annotations

import json
import sys
import time

from benchmarks.harness import lambda_like_environment


def main(kind: str) -> None:
    lambda_like_environment()
    start = time.perf_counter()
    if kind == "web":
        import functions.channel_web.app as web

        handler = web.lambda_handler
    else:
        import boto3  # noqa: F401 - the bare handler's whole import
    imported = time.perf_counter()

    from benchmarks.harness import lambda_context, quiet_stdout, web_event, web_signup
    from benchmarks.stack import BackendClock, moto_stack
    from benchmarks.throughput import bare_handler

    with moto_stack() as stack:
        stack.activate()
        if kind != "web":
            # Its client is built inside the first request, as the web function builds its own.
            def handler(event: dict, context: object) -> dict:
                return bare_handler(stack.client("dynamodb"), stack.profile_table)(event, context)

        context = lambda_context()
        times, backend = [], []
        with quiet_stdout():
            for n in range(2):
                event = web_event(web_signup(n), stack.api_key_id)
                before, clock = time.perf_counter(), BackendClock.seconds
                answer = handler(event, context)
                times.append(time.perf_counter() - before)
                backend.append(BackendClock.seconds - clock)
                assert answer["statusCode"] == 200, answer["body"]
    print(
        json.dumps(
            {
                "import_s": imported - start,
                "first_request_s": times[0],
                "first_request_backend_s": backend[0],
                "second_request_s": times[1],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
