"""The emulator: API Gateway, Lambda containers, streams and queues over an embedded moto, built from template.yaml."""
