"""Tokenization, field encryption and per-subject keys."""
