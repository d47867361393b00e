"""Wait until an exporter's /metrics serves every terminal the simulator simulates (container-test.sh).

    python scripts/container_fleet_check.py METRICS_URL SIMULATOR_URL TIMEOUT_SECONDS

Counts `leo_terminal_online` series per provider and compares them with the simulator's own
`/_sim/state` of each provider; exits 0 when they match, 1 (saying what is missing) when the
timeout passes first.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter

import httpx
from prometheus_client.parser import text_string_to_metric_families


def simulated(sim_url: str) -> Counter[str]:
    """Terminals per provider, as the simulator reports its fleet."""
    starlink = httpx.get(f"{sim_url}/starlink/_sim/state", timeout=10).json()
    kognitive = httpx.get(f"{sim_url}/kognitive/_sim/state", timeout=10).json()
    oneweb = httpx.get(f"{sim_url}/oneweb/_sim/state", timeout=10).json()
    return Counter(
        {
            "starlink": sum(a["terminals"] for a in starlink["accounts"]),
            "kognitive": sum(a["terminals"] for p in kognitive["partners"] for a in p["accounts"]),
            "oneweb": sum(len(a["terminals"]) for a in oneweb["accounts"]),
        }
    )


def served(metrics_url: str) -> Counter[str]:
    """Terminals per provider with a `leo_terminal_online` series on /metrics."""
    response = httpx.get(metrics_url, timeout=10)
    response.raise_for_status()  # 503 until the first rendering
    return Counter(
        sample.labels["provider"]
        for family in text_string_to_metric_families(response.text)
        if family.name == "leo_terminal_online"
        for sample in family.samples
    )


def main(metrics_url: str, sim_url: str, timeout: float) -> int:
    expected = simulated(sim_url)
    deadline = time.monotonic() + timeout
    got: Counter[str] = Counter()
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            got = served(metrics_url)
        if got == expected:
            print(f"serving {sum(got.values())} terminals: {dict(got)}", file=sys.stderr)
            return 0
        time.sleep(0.5)
    print(f"terminals served {dict(got)}, simulated {dict(expected)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
