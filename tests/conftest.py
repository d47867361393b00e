"""Shared fixtures: tool lookup that fails (never skips) in CI, free loopback ports, and the
simulated date every test runs at unless it sets its own."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

from leo_exporter.providers import providers
from leo_exporter.render import Exposition, Renderer
from leo_exporter.simulator.calendar import ENV_VAR, parse_instant
from leo_exporter.state import STRICT_ENV, FleetState

providers()  # the registry installs the providers' own families into the catalogue, as every exporter process does

# The simulated world's date in tests: the first half hour of a month, the hardest ordinary day
# for usage. Every simulator a test starts (in-process or as a process, which reads the
# environment) is at this date unless the test says otherwise, so no outcome depends on the day
# the suite runs.
SIMULATED_DATE = "2027-03-01T00:30:00Z"
SIMULATED_NOW = parse_instant(SIMULATED_DATE)
os.environ[ENV_VAR] = SIMULATED_DATE
# A measurement that does not fit the catalogue (unknown family, wrong entity kind, labels missing
# or extra) raises in every test, and in every exporter process a test starts, rather than being
# counted and logged as in production; tests of the production behaviour unset it.
os.environ[STRICT_ENV] = "1"


def require_tool(name: str) -> str:
    """Path of an external tool; skip locally when missing, but fail in CI where .ci/run installs it."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed: .ci/run must install it")
    pytest.skip(f"{name} not installed (run `make test`, which installs it)")
    raise AssertionError("unreachable")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the backend the exporter runs on."""
    return "asyncio"


class FakeClock:
    """A wall clock the test moves by hand (`clock.now += 60`)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def render(state: FleetState) -> Exposition:
    """Tick the state and render it, as the exporter's render loop does."""
    state.tick()
    return Renderer(state).render()
