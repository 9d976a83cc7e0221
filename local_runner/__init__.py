"""Runs the SAM template locally without Docker: embedded AWS (moto), the API, streams and queues."""
