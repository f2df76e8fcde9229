# The project's interface: `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
IMAGES ?= events/images
OUT ?= out
ARGS ?=
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY = 0

.DEFAULT_GOAL := help
.PHONY: help install run serve invoke check test test-unit test-integration test-e2e lint format typecheck bench bench-quick build deploy reprocess clean

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3

install: $(BIN)/python ## Create .venv with every pinned dependency and the project's commands
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'

run: ## Run the pipeline locally on IMAGES (default: events/images), outputs under OUT
	$(BIN)/ocr-local run --images $(IMAGES) --out $(OUT) $(ARGS)

serve: ## Keep the local stack up as a drop folder (Ctrl-C stops it)
	$(BIN)/ocr-local serve --out $(OUT) $(ARGS)

invoke: ## Invoke one function with an event file: make invoke FUNCTION=OnUploadFunction EVENT=events/s3_put.json
	$(BIN)/ocr-local invoke $(FUNCTION) -e $(EVENT) --out $(OUT) $(ARGS)

check: lint test ## Everything CI runs: lint (with typecheck and the template checks), then the tests

test: ## Run the whole test suite (unit, integration, e2e, bench smoke)
	$(BIN)/pytest -q $(ARGS)

test-unit: ## Unit tests only
	$(BIN)/pytest -q tests/unit $(ARGS)

test-integration: ## Integration tests only
	$(BIN)/pytest -q tests/integration $(ARGS)

test-e2e: ## End-to-end tests through the local stack
	$(BIN)/pytest -q tests/e2e $(ARGS)

lint: ## ruff, mypy, cfn-lint, sam validate --lint, statelint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/python infra/lint.py

format: ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: ## mypy (strict) on the functions, the OCR service and the local stack
	$(BIN)/mypy functions/ocr_pipeline ocr_service infra/local_stack infra/lint.py bench infra/reprocess

bench: ## Run the benchmarks; results under bench/results
	$(BIN)/python -m bench $(ARGS)

bench-quick: ## The benchmarks' quick smoke mode
	$(BIN)/python -m bench --quick $(ARGS)

build: ## sam build
	$(BIN)/sam build --template-file template.yaml

# The first deploy is guided and saves its answers (never NoEcho values) as parameter_overrides in
# samconfig.toml; later deploys reuse them without prompting.
deploy: build ## sam deploy (guided only until samconfig.toml holds the stack's parameters)
	@if grep -q '^parameter_overrides' samconfig.toml; then $(BIN)/sam deploy; else $(BIN)/sam deploy --guided; fi

reprocess: ## Start the pipeline again for stored objects: ARGS="--stack NAME --failed" (see README)
	$(BIN)/ocr-reprocess $(ARGS)

clean: ## Remove build outputs and caches (keeps .venv)
	rm -rf .aws-sam $(OUT) .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
