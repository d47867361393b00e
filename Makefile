# The two commands of the quick start: `make run` and `make test`; `make check` is the fast lane.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Independent tests on every core (pytest-xdist), a file's tests on one worker (module fixtures
# start once); then the tests marked `serial` (they time things), alone, from the files that have
# any (collecting only those files saves the second pass most of its start).
PARALLEL := -n auto --dist loadfile
SERIAL   := -p no:xdist $(shell grep -l 'pytest.mark.serial' tests/test_*.py)

.PHONY: run test check lint install tools bench clean release image

$(BIN)/leo-exporter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/leo-exporter

## Run the exporter against the built-in simulator on http://127.0.0.1:9819/
run: install
	$(BIN)/leo-exporter --web.listen-address 127.0.0.1:9819

## Install what the tests need (Debian packages when root) and run every test (what CI runs).
test: install tools lint
	$(BIN)/pytest $(PARALLEL) -m "not serial"
	$(BIN)/pytest $(SERIAL) -m serial

## The fast lane (about a minute): lint, types, import contracts, every test not marked e2e.
check: install lint
	$(BIN)/pytest $(PARALLEL) -m "not e2e and not serial"
	$(BIN)/pytest $(SERIAL) -m "serial and not e2e"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

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
