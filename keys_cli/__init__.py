"""`python -m keys_cli`: the operator tool for the keys the privacy model rests on (see cli.py)."""
