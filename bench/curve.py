"""The cost curve's report: fitted growth, the table and the plot, from bench/fleet.py results.

Each figure is fitted as a power law, figure ∝ terminals^k (least squares of log figure against log
terminals), so k says how it grows: about 1 is linear, above 1 worse. Figures of the whole fleet
(series, sizes, summed RSS, summed render time) take every point; figures of one process (scrape
latencies, freshness, an ingest, one process's memory) take only the unsharded points, since a
sharded point's process holds only part of the fleet. Where a figure has a limit (a target of
issue 19, the pod's memory limit in the shipped manifests, the telemetry tick), the fit says at
how many terminals one process reaches it: where one process stops being enough.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT = ROOT / "deploy" / "kubernetes" / "base" / "deployment.yaml"
TICK_S = 15.0  # the simulator delivers telemetry rows every 15 s, as Starlink's stream does


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    whole_fleet: bool  # True: summed over shards; False: one process's figure
    limit: float | None = None
    limit_why: str = ""


def pod_memory_limit_mib(path: Path = DEPLOYMENT) -> float:
    """The exporter container's memory limit in the shipped Deployment (Mi or Gi)."""
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "Deployment":
            limit = str(doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])
            return float(limit.removesuffix("Mi")) if limit.endswith("Mi") else float(limit.removesuffix("Gi")) * 1024
    raise ValueError(f"no Deployment in {path}")


def figures() -> tuple[Figure, ...]:
    pod = pod_memory_limit_mib()
    return (
        Figure("series", "series", "", True),
        Figure("render_s", "full render with gzip", "s", True, TICK_S, "the 15 s between telemetry ticks"),
        Figure("scrape_gzip_p99_ms", "idle gzip scrape p99", "ms", False),
        Figure("ingest_scrape_p99_ms", "gzip scrape p99 during an ingest", "ms", False),
        Figure("ingest_job_s", "telemetry job, 65,000-row batch", "s", False),
        Figure("ingest_s", "decode + apply 65,000 rows", "s", False),
        Figure("freshness_p99_s", "freshness p99", "s", False, 4, "issue 19's target, 2 s plus the 2 s linger"),
        Figure("peak_rss_mib", "peak RSS, all exporter processes", "MiB", True),
        Figure("process_rss_mib", "peak RSS of one exporter (largest shard)", "MiB", False, pod, "the pod's memory limit"),
        Figure("exposition_gzip_mib", "exposition, gzip", "MiB", True),
        Figure("exposition_plain_mib", "exposition, plain", "MiB", True),
        Figure("prometheus_scrape_duration_s", "Prometheus' scrape_duration_seconds", "s", False, 10, "issue 19's target"),
        Figure("prometheus_peak_rss_mib", "Prometheus' own peak RSS", "MiB", True),
    )  # fmt: skip


def load_runs(paths: list[Path]) -> list[dict[str, Any]]:
    """The results of bench/fleet.py, smallest fleet first, each with `process_rss_mib`."""
    runs = [json.loads(path.read_text()) for path in paths]
    for run in runs:
        run.setdefault("shards", 1)
        run["process_rss_mib"] = max(run.get("peak_rss_shards_mib") or [run["peak_rss_mib"]])
    return sorted(runs, key=lambda run: run["terminals"])


def _value(run: dict[str, Any], key: str) -> float | None:
    value = run.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def points(runs: list[dict[str, Any]], figure: Figure) -> list[tuple[float, float]]:
    usable = runs if figure.whole_fleet else [run for run in runs if run["shards"] == 1]
    return [(run["terminals"], v) for run in usable if (v := _value(run, figure.key)) is not None]


def fit(xy: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(exponent k, intercept a) of log y = a + k log x; None below two distinct sizes."""
    if len({x for x, _ in xy}) < 2:
        return None
    lx = [math.log(x) for x, _ in xy]
    ly = [math.log(y) for _, y in xy]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    k = sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)
    return k, my - k * mx


def growth(k: float) -> str:
    if k < 0.15:
        return "flat"
    if k < 0.85:
        return "slower than linear"
    if k <= 1.15:
        return "linear"
    return "worse than linear"


def crossing(xy: list[tuple[float, float]], limit: float) -> float | None:
    """Terminals at which the figure reaches `limit`: interpolated (log-log) between the two sizes
    it crosses at, else extrapolated from the two largest sizes (the two smallest if it is over
    already) rather than from the whole-range fit, since fixed costs flatten the small fleets;
    None if it does not grow there."""
    ordered = sorted(xy)
    if len({x for x, _ in ordered}) < 2:
        return None
    pairs = list(itertools.pairwise(ordered))
    segment = next(((a, b) for a, b in pairs if (a[1] - limit) * (b[1] - limit) <= 0 and a[0] != b[0]), None)
    if segment is None:
        segment = pairs[0] if ordered[0][1] > limit else pairs[-1]
    line = fit(list(segment))
    if line is None or line[0] <= 0:
        return None
    return math.exp((math.log(limit) - line[1]) / line[0])


def analyse(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure: its points, exponent, growth, limit and where one process reaches it."""
    out: dict[str, Any] = {}
    for figure in figures():
        xy = points(runs, figure)
        line = fit(xy)
        entry: dict[str, Any] = {"label": figure.label, "unit": figure.unit, "whole_fleet": figure.whole_fleet,
                                 "points": xy, "exponent": None, "growth": None}  # fmt: skip
        if line is not None:
            entry["exponent"] = round(line[0], 2)
            entry["growth"] = growth(line[0])
        if figure.limit is not None:
            entry["limit"] = figure.limit
            entry["limit_why"] = figure.limit_why
            # one process's limit: from the unsharded points only (a shard holds part of the fleet)
            entry["one_process_up_to"] = crossing(points(runs, replace(figure, whole_fleet=False)), figure.limit)
        out[figure.key] = entry
    return out


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "":
        return f"{value:,.0f}"
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:,.{digits}f}"


def table(runs: list[dict[str, Any]]) -> str:
    """One row per fleet size: the figures the curve plots, as bench/fleet.py measured them."""
    head = ["terminals", "shards", "series", "render (s)", "idle gzip p99 (ms)", "p99 during ingest (ms)",
            "ingest job / decode+apply (s)", "freshness p99 (s)", "peak RSS (MiB)", "exposition gzip / plain (MiB)",
            "Prometheus scrape (s) / its RSS (MiB)", "load average (1 min), start / end", "run (s)"]  # fmt: skip
    rows = []
    for r in runs:
        rss = _fmt(_value(r, "peak_rss_mib"), "MiB")
        if r["shards"] > 1:
            rss += " (" + " + ".join(f"{m:.0f}" for m in r["peak_rss_shards_mib"]) + ")"
        rows.append([
            f"{r['terminals']:,}", str(r["shards"]), _fmt(_value(r, "series"), ""),
            _fmt(_value(r, "render_s"), "s"), _fmt(_value(r, "scrape_gzip_p99_ms"), "ms"),
            _fmt(_value(r, "ingest_scrape_p99_ms"), "ms"),
            f"{_fmt(_value(r, 'ingest_job_s'), 's')} / {_fmt(_value(r, 'ingest_s'), 's')}",
            _fmt(_value(r, "freshness_p99_s"), "s"), rss,
            f"{_fmt(_value(r, 'exposition_gzip_mib'), 'MiB')} / {_fmt(_value(r, 'exposition_plain_mib'), 'MiB')}",
            f"{_fmt(_value(r, 'prometheus_scrape_duration_s'), 's')} / {_fmt(_value(r, 'prometheus_peak_rss_mib'), 'MiB')}",
            " / ".join(f"{r[k][0]:.1f}" for k in ("load_average_start", "load_average") if r.get(k)) or "—",
            f"{r['bench_wall_s']:,}" if r.get("bench_wall_s") else "—",
        ])  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def growth_lines(analysis: dict[str, Any]) -> list[str]:
    lines = []
    for key, entry in analysis.items():
        if entry["exponent"] is None:
            continue
        scope = "the whole fleet" if entry["whole_fleet"] else "one process, unsharded points"
        lines.append(f"- {entry['label']}: ∝ terminals^{entry['exponent']:.2f}, {entry['growth']} ({scope}; `{key}`)")
    return lines


def limit_lines(analysis: dict[str, Any], largest: int) -> list[str]:
    lines = []
    for entry in analysis.values():
        if "limit" not in entry or entry["exponent"] is None:
            continue
        limit = f"{entry['limit']:g} {entry['unit']}".strip()
        up_to = entry["one_process_up_to"]
        if up_to is None:
            where = "no size: it does not grow with the fleet"
        elif up_to > 10 * largest:
            where = f"beyond {10 * largest:,} terminals (fit: {up_to:,.0f})"
        else:
            where = f"about {up_to:,.0f} terminals"
        measured = max(y for _, y in entry["points"]) >= entry["limit"]
        lines.append(
            f"- {entry['label']} reaches {limit} ({entry['limit_why']}) at {where}"
            + (" (measured over it)" if measured else "")
        )
    return lines


def one_process_limit(analysis: dict[str, Any]) -> tuple[float, str] | None:
    """The fewest terminals at which one process reaches any limit, and which figure that is."""
    reached = [(e["one_process_up_to"], e["label"]) for e in analysis.values() if e.get("one_process_up_to")]
    return min(reached) if reached else None


def markdown(runs: list[dict[str, Any]], analysis: dict[str, Any]) -> str:
    largest = max(run["terminals"] for run in runs)
    first = one_process_limit(analysis)
    if first is None:
        verdict = "No fitted figure reaches its limit: one process carries every size measured."
    else:
        verdict = (
            f"One process stops being enough at about **{first[0]:,.0f} terminals**, where the "
            f"{first[1]} reaches its limit first: size shards as terminals ÷ {first[0]:,.0f}, rounded up."
        )
    return "\n".join([
        "# Cost curve", "",
        "`bench/scaling.py`: each size is one `bench/fleet.py` run in its own process, on a machine "
        "of 2 vCPUs shared with other work (the load average of each run is in the table). Sharded "
        "points give whole-fleet figures (sums over shards) and per-process figures of one shard.", "",
        table(runs), "",
        "Runs:", "",
        *(f"- `{run.get('bench_command', 'bench/fleet.py --terminals ' + str(run['terminals']))}`" for run in runs), "",
        "## How each figure grows", "",
        "Fitted figure ∝ terminals^k (slope of log figure against log terminals):", "",
        *growth_lines(analysis), "",
        "## Where one process stops being enough", "",
        "Each limit is reached where the figure crosses it between two measured sizes, else by the "
        "two largest sizes' slope (fixed costs make the smallest fleets' slope too flat):", "",
        *limit_lines(analysis, largest), "",
        verdict, "",
        "A fit through few points on a shared machine, where a p99 moves by 2x between runs: read "
        "the verdict with the load averages above. Shards of one sharded point share this machine's "
        "two vCPUs and the simulator, unlike pods on their own nodes: its latencies are an upper bound.", "",
    ])  # fmt: skip


def plot(runs: list[dict[str, Any]], analysis: dict[str, Any], path: Path) -> None:
    """Log-log panels, one per figure: measured points (hollow where sharded), the fitted line with
    its exponent, and the figure's limit where it has one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    shown = [key for key, entry in analysis.items() if entry["points"]]
    columns = 3
    rows = math.ceil(len(shown) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(13, 3.3 * rows), squeeze=False)
    sharded = {run["terminals"] for run in runs if run["shards"] > 1}
    for ax, key in zip(axes.flat, shown, strict=False):
        entry = analysis[key]
        xs = [x for x, _ in entry["points"]]
        ys = [y for _, y in entry["points"]]
        ax.loglog(xs, ys, "o", color="tab:blue", mfc="white")
        solid = [(x, y) for x, y in entry["points"] if x not in sharded]
        if solid:
            ax.loglog(*zip(*solid, strict=True), "o", color="tab:blue")
        title = entry["label"] + (f" ({entry['unit']})" if entry["unit"] else "")
        if entry["exponent"] is not None:
            k = entry["exponent"]
            a = sum(math.log(y) - k * math.log(x) for x, y in entry["points"]) / len(entry["points"])
            line_x = [min(xs), max(xs)]
            ax.loglog(line_x, [math.exp(a) * x**k for x in line_x], "-", color="tab:orange", lw=1)
            title += f"\n$\\propto N^{{{k:.2f}}}$, {entry['growth']}"
        if entry.get("limit"):
            ax.axhline(entry["limit"], color="tab:red", ls="--", lw=1)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(sorted(set(xs)), [f"{x / 1000:g}k" for x in sorted(set(xs))])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1000 else f"{v:.3g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.tick_params(labelsize=8)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    fig.supxlabel("terminals (hollow: sharded run; red dashed: limit)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(runs: list[dict[str, Any]], published: Path, png: Path) -> dict[str, Any]:
    """scaling.json and scaling.md in `published`, the plot at `png`; returns the analysis."""
    analysis = analyse(runs)
    published.mkdir(parents=True, exist_ok=True)
    first = one_process_limit(analysis)
    summary = {
        "sizes": [run["terminals"] for run in runs],
        "fits": analysis,
        "one_process_limit": None if first is None else {"terminals": first[0], "figure": first[1]},
        "runs": runs,
    }
    (published / "scaling.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    (published / "scaling.md").write_text(markdown(runs, analysis))
    plot(runs, analysis, png)
    return analysis
