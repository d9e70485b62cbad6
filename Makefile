# One-command set-up: each target creates .venv and installs what it needs on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo bench lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

## test: the whole suite — pytest, ruff, mypy --strict on the package
test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check asyncbatch tests benchmarks
	$(BIN)/ruff format --check asyncbatch tests benchmarks
	$(BIN)/mypy --strict asyncbatch

## demo: the main job against the embedded emulator (no account needed). The bundled sample
## holds 12 deliberately invalid courses, so the CLI's exit code 1 (some records failed) is
## the expected outcome here.
demo: $(STAMP)
	$(BIN)/asyncbatch upsert 0-410 sample:courses --id-property course_code --sandbox || test $$? -eq 1

## bench: performance table against the peers named in the issues
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
