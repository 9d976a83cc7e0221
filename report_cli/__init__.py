"""`python -m report_cli`: the reports tool for business users and campaign teams (see cli.py)."""
