# Every developer task. README's two commands are `make demo` and `make test`;
# `make build`, `make deploy` and `make smoke STACK=<name>` are docs/operators.md's "Deploy to AWS".
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export SAM_CLI_TELEMETRY := 0
export PYTHONPATH := .:shared
# The functions' runtime: `sam build` installs the layer's dependencies with this Python.
RUNTIME_PYTHON := python3.12
STACK ?=

.PHONY: setup browser demo serve load compliance report test unit integration e2e lint format bench openapi build deploy smoke clean

# The JavaScript SDKs the end-to-end tests drive (tests/node), where Node is installed.
NODE_SDKS := tests/node/node_modules/.installed

setup: $(VENV)/.installed $(NODE_SDKS)

# The real-browser test drives Debian's chromium (tests/e2e/test_sdk_browser.py fails without it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" != 0 ]; then echo "chromium not found: run 'sudo apt-get install -y chromium' (the browser test needs it)"; \
		else export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }; \
		fi; }

$(NODE_SDKS): tests/node/package.json tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/node --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the @segment/analytics-node test will be skipped and the browser test will fail"; fi

$(VENV)/.installed: requirements-dev.txt shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

demo: setup             ## the main job: every channel's sample touchpoints through the local API
	$(BIN)/python -m local_runner demo

serve: setup            ## the API on http://127.0.0.1:3000 with an embedded AWS (like sam local start-api)
	$(BIN)/python -m local_runner serve

load: setup             ## the runner under load (10,000 touchpoints, 8 clients), verified; LOAD_ARGS="--touchpoints 2000" to change
	$(BIN)/python -m local_runner load --json benchmarks/results/load.json $(LOAD_ARGS)

compliance: setup       ## the compliance operator tool: make compliance ARGS="--url http://127.0.0.1:3000 queue"
	$(BIN)/python -m compliance_cli $(ARGS)

report: setup           ## the HTML report from `make serve`'s runner (STACK=<name>: a deployed stack, your IAM identity)
	$(BIN)/python -m report_cli html $(if $(filter-out local,$(STACK)),--stack $(STACK),--local) --out $(or $(REPORT),report.html) --force $(REPORT_ARGS)

test: setup browser     ## the whole suite: unit, integration, end-to-end
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=30

unit: setup
	$(BIN)/python -m pytest tests/unit

integration: setup
	$(BIN)/python -m pytest tests/integration

e2e: setup browser
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

build: setup            ## sam build into .aws-sam/build, with a Python 3.12 from PATH or pyenv
	@runtime=""; \
	for candidate in $$(command -v $(RUNTIME_PYTHON)) $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/$(RUNTIME_PYTHON); do \
	  if [ -x "$$candidate" ] && "$$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then \
	    runtime="$$candidate"; break; \
	  fi; \
	done; \
	if [ -z "$$runtime" ]; then \
	  echo "make build: no Python 3.12 found (python3.12 on PATH, or pyenv's versions/3.12*)." >&2; \
	  echo "The functions run on python3.12 and sam build installs their layer with it: install one" >&2; \
	  echo "(e.g. 'pyenv install 3.12' or your system's python3.12 package) and run make build again." >&2; \
	  exit 1; \
	fi; \
	echo "sam build with $$runtime"; \
	PATH="$$(dirname "$$runtime"):$$PATH" $(BIN)/sam build

# The first deploy is guided (stack name, region, parameters) on a copy of samconfig.toml;
# the answers stay in samconfig.local.toml (git-ignored) and later deploys reuse them.
deploy: build           ## sam deploy: guided the first time, then with samconfig.local.toml
	@if grep -qs '^region' samconfig.local.toml; then \
	  $(BIN)/sam deploy --config-file "$(CURDIR)/samconfig.local.toml"; \
	else \
	  cp -n samconfig.toml samconfig.local.toml; \
	  $(BIN)/sam deploy --guided --config-file "$(CURDIR)/samconfig.local.toml"; \
	fi

smoke: setup            ## end to end after a deploy: STACK=<name>; without STACK (or STACK=local) the local runner
	$(BIN)/python -m local_runner smoke $(if $(STACK),--stack $(STACK))

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
