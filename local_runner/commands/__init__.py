"""The commands built on the emulator: demo, smoke, load and openapi (python -m local_runner <command>)."""
