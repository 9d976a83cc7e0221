"""`python -m keys_cli`: rotations of the keys the privacy model rests on, for operators.

    branch-keys    the KMS-protected branch keys that wrap every person's data key (keys_cli.branch_keys)
    token-secret   the tokenization secret every identifier token is made with (keys_cli.token_secret)

Each rotation has start, progress and finish; each is resumable after a crash (its progress is stored, not
held by this process)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from keys_cli import branch_keys, token_secret

PROG = "keys"


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = main.add_subparsers(dest="group", required=True)
    branch_keys.register(groups)
    token_secret.register(groups)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    run = arguments.run  # each group's subcommand sets its own `run`
    return int(run(arguments) or 0) if callable(run) else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
