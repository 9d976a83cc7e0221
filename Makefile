# Every developer task. README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export SAM_CLI_TELEMETRY := 0
export PYTHONPATH := .:shared

.PHONY: setup demo serve compliance test unit integration e2e lint format bench openapi clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

demo: setup             ## the main job: every channel's sample touchpoints through the local API
	$(BIN)/python -m local_runner demo

serve: setup            ## the API on http://127.0.0.1:3000 with an embedded AWS (like sam local start-api)
	$(BIN)/python -m local_runner serve

compliance: setup       ## the compliance operator tool: make compliance ARGS="--url http://127.0.0.1:3000 queue"
	$(BIN)/python -m compliance_cli $(ARGS)

test: setup             ## the whole suite: unit, integration, end-to-end
	$(BIN)/python -m pytest -n 2 --dist loadfile

unit: setup
	$(BIN)/python -m pytest tests/unit

integration: setup
	$(BIN)/python -m pytest tests/integration

e2e: setup
	$(BIN)/python -m pytest tests/e2e

lint: setup             ## ruff, mypy, cfn-lint and sam validate --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: setup          ## regenerate openapi.json from the functions' resolvers and template.yaml
	$(BIN)/python -m local_runner openapi -o openapi.json

bench: setup            ## performance ratios against baselines measured in the same run
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
