"""Keeps each profile's I/C/T state current, from the profile table's stream (filtered by the event source)."""

from touchpoints.wiring.classifier import classifier_handler

lambda_handler = classifier_handler()
