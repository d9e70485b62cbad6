# One-command set-up: each target creates .venv and installs what it needs on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLI_STAMP := $(VENV)/.installed-cli

.PHONY: test demo bench lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

## test: the whole suite — pytest, ruff, mypy --strict on the package (and tests/typecheck)
test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check asyncbatch tests benchmarks
	$(BIN)/ruff format --check asyncbatch tests benchmarks
	$(BIN)/mypy --strict asyncbatch tests/typecheck

# The demo needs only the command line's extra (click, rich), not the test and bench tools.
$(CLI_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cli]'
	touch $(CLI_STAMP)

## demo: the main job against the embedded emulator (no account needed): asyncbatch demo. The
## bundled sample holds 12 deliberately invalid courses; the demo says so and exits 0 when
## exactly those fail.
demo: $(CLI_STAMP)
	@$(BIN)/asyncbatch demo

## bench: performance table against the peers named in the issues
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
