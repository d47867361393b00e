"""How long a shard is dark when its leader goes, with shards as Kubernetes Leases, on loopback.

    python bench/ha_failover.py                 # 20 SIGKILLs and 20 SIGTERMs
    python bench/ha_failover.py --kills 5
    python bench/ha_failover.py --kills 5 --defaults   # the shipped timings: 15 s, 10 s, 2 s

Three replicas (--shard.max-per-replica 2), four shards, the test suite's Lease double as the
Kubernetes API and the simulator (a telemetry row every second) as Starlink. Each round stops the
leader of shard 0, by SIGKILL of its whole process group (a node failure: its leases must expire)
or by SIGTERM (a rolling update: it releases them), measures the time until another replica's
/metrics serves every one of that replica's shards' accounts again, then starts a replacement.
Lease timings: duration 5 s, renew deadline 3 s, retry period 1 s in these runs (the defaults,
15/10/1 s, add ~10 s to a SIGKILL's figure: the lease duration). Prints p50 and max of each and
the simulator's overlap count (reads of a stream by two replicas at once: must be 0), and writes
bench/results/ha-failover.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.ha_cluster import SHARDS, TIMING, cluster


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="rounds of each kind (default 20)")
    parser.add_argument("--defaults", action="store_true", help="the shipped lease timings (15/10/1 s)")
    args = parser.parse_args()
    if args.defaults:
        TIMING.update(LEO_SHARD_LEASE_DURATION="15", LEO_SHARD_RENEW_DEADLINE="10", LEO_SHARD_RETRY_PERIOD="1")
    figures: dict[str, list[float]] = {"sigkill": [], "sigterm": []}
    with tempfile.TemporaryDirectory() as tmp, cluster(Path(tmp)) as c:
        for name in ("replica-0", "replica-1", "replica-2"):
            c.start(name)
        c.wait(c.all_led, 180, "every shard led")
        started = len(c.replicas)
        for round_ in range(2 * args.kills):
            kind = "sigkill" if round_ % 2 == 0 else "sigterm"
            leader = c.replicas[c.leader(0)]
            lost = [s for s in range(SHARDS) if c.leader(s) == leader.name]
            began = time.monotonic()
            leader.kill() if kind == "sigkill" else leader.terminate()
            c.wait(
                lambda lost=lost, gone=leader.name: all(  # type: ignore[misc]
                    c.leader(s) not in ("", gone) and c.serves(c.replicas[c.leader(s)], s) for s in lost
                ),
                120,
                f"{kind} round {round_}",
            )
            figures[kind].append(time.monotonic() - began)
            print(f"{kind:7} round {round_ // 2 + 1:2}: shards {lost} back in {figures[kind][-1]:.2f} s", flush=True)
            leader.popen.wait(15)
            c.start(f"replica-{started}")
            started += 1
            c.wait(c.all_led, 120, "all led again")
            time.sleep(1.5)  # the new replica is up and following before the next round
        overlaps = c.overlaps()
    result = {
        "timing": {k.removeprefix("LEO_SHARD_").lower(): float(v) for k, v in TIMING.items()},
        "rounds": args.kills,
        "overlaps": overlaps,
        **{
            kind: {
                "p50_seconds": round(statistics.median(values), 2),
                "max_seconds": round(max(values), 2),
                "all_seconds": [round(v, 2) for v in values],
            }
            for kind, values in figures.items()
        },
    }
    print(json.dumps({k: v for k, v in result.items() if k not in ("sigkill", "sigterm")}))
    for kind in ("sigkill", "sigterm"):
        print(f"{kind}: p50 {result[kind]['p50_seconds']} s, max {result[kind]['max_seconds']} s")
    out = Path(__file__).resolve().parent / "results" / f"ha-failover{'-defaults' if args.defaults else ''}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if overlaps == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
