"""`python -m report_cli`: what marketing and business users take out of the system, counts and ids only.

html       the self-contained HTML report: the I/C/T diagram, states over time, the funnel, programs,
           data quality, contact pressure (report_cli.html_report)
audience   a program's audience: to a file (0600) or streamed into contact decisions (report_cli.audiences)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from report_cli import audiences, html_report

PROG = "report"


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = main.add_subparsers(dest="group", required=True)
    html_report.register(groups)
    audiences.register(groups)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    run = arguments.run  # each subcommand sets its own `run`
    return int(run(arguments) or 0) if callable(run) else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
