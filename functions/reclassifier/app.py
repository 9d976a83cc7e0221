"""Classifies again the profiles time has changed (daily, EventBridge Scheduler), or, when an operator asks
after a rules deploy, those classified under other rules."""

from touchpoints.wiring.classifier import reclassifier_handler

lambda_handler = reclassifier_handler()
