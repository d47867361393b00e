# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint install tools bench clean release image

$(BIN)/leo-exporter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/leo-exporter

## Run the exporter against the built-in simulator on http://127.0.0.1:9819/
run: install
	$(BIN)/leo-exporter --web.listen-address 127.0.0.1:9819

## Install what the tests need (Debian packages when root) and run every test.
test: install tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

tools:
	@bash scripts/install-test-tools.sh

## Wheel, sdist and container image of one version (from the git tags) with SHA256SUMS, in dist/
release: install
	bash scripts/release.sh dist

## The container image alone, tagged with the version (Docker if installed, else podman as root)
image: install
	@v=$$($(BIN)/python -m setuptools_scm); t="leo-exporter:$$(echo $$v | tr + -)"; \
	args="--build-arg VERSION=$$v --build-arg REVISION=$$(git rev-parse HEAD)"; \
	if docker info >/dev/null 2>&1; then docker build -t $$t $$args .; else bash scripts/container-image.sh $$t $$args; fi; \
	echo "built $$t"

bench: install
	$(BIN)/python bench/fleet.py --terminals 50000

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
