"""Every figure of a mode as a ratio to the floor's (bench/floor.py) at the same N in the same run.

Machines differ (the same commit measures ~2x apart on two of this project's machines), so the
goals also hold as ratios: CPU per delta <= 2x the floor's, streams held >= 2/3 of the floor's.
"""

from __future__ import annotations

# (name in ratio_to_floor, path in a result row)
FIGURES = [
    ("added_p50", ("added_latency_ms", "p50")),
    ("added_p99", ("added_latency_ms", "p99")),
    ("ttft_p50", ("ttft_ms", "p50")),
    ("ttft_p99", ("ttft_ms", "p99")),
    ("ttft_overhead_p50", ("ttft_overhead_ms", "p50")),
    ("ttft_overhead_p99", ("ttft_overhead_ms", "p99")),
    ("frames_per_answer", ("frames_per_answer",)),
    ("server_cpu_us_per_delta", ("server_cpu_us_per_delta",)),
    ("max_loop_stall_ms", ("max_loop_stall_ms",)),
    ("rss_kib_per_stream", ("rss_kib_per_stream",)),
]
GOAL_CPU_RATIO = 2.0
GOAL_HELD_RATIO = 2 / 3


def _get(row: dict, path: tuple[str, ...]):
    value = row
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def ratio(a, b) -> float | None:
    """a / b, or None when either is missing or b is not positive (no meaningful ratio)."""
    if a is None or b is None or b <= 0:
        return None
    return round(a / b, 2)


def measured(row: dict) -> bool:
    return row["mode"] != "baseline" and not row.get("skipped") and row.get("streams")


def held(rows: list[dict]) -> dict[str, int]:
    """Per mode: the most streams of a passing step (0 when none passed)."""
    out: dict[str, int] = {}
    for row in rows:
        if measured(row):
            best = out.setdefault(row["mode"], 0)
            if row["pass"]:
                out[row["mode"]] = max(best, row["streams"])
    return out


def add_ratios(rows: list[dict]) -> dict:
    """Put `ratio_to_floor` on every measured row; return the run's summary of streams held."""
    floor = {r["streams"]: r for r in rows if measured(r) and r["mode"] == "floor"}
    for row in rows:
        base = floor.get(row.get("streams"))
        if not measured(row) or base is None:
            continue
        row["ratio_to_floor"] = {
            name: ratio(_get(row, path), _get(base, path)) for name, path in FIGURES
        }
    streams = held(rows)
    floor_held = streams.get("floor")
    summary = {}
    for mode, n in streams.items():
        summary[mode] = {"streams": n, "ratio_to_floor": ratio(n, floor_held)}
    return summary


RATIO_COLUMNS = [
    ("mode", 16, None), ("N", 5, None), ("add p50", 8, "added_p50"), ("p99", 7, "added_p99"),
    ("ttft p50", 8, "ttft_p50"), ("p99", 7, "ttft_p99"), ("fr/ans", 6, "frames_per_answer"),
    ("cpu/Δ", 6, "server_cpu_us_per_delta"), ("stall", 6, "max_loop_stall_ms"),
    ("KiB/str", 7, "rss_kib_per_stream"),
]  # fmt: skip


def ratio_table(rows: list[dict], summary: dict) -> str:
    """The same run's figures as multiples of the floor's (x1.00 = as thin as the floor)."""
    head = " ".join(f"{n:>{w}}" if i else f"{n:<{w}}" for i, (n, w, _) in enumerate(RATIO_COLUMNS))
    lines = ["ratios to the floor (same run, same N):", head]
    for row in rows:
        r = row.get("ratio_to_floor")
        if r is None or row["mode"] == "floor":
            continue
        cells = [row["mode"], str(row["streams"])]
        cells += ["-" if r[key] is None else f"{r[key]:.2f}" for _, _, key in RATIO_COLUMNS[2:]]
        lines.append(" ".join(f"{c:>{w}}" if i else f"{c:<{w}}"
                              for i, (c, (_, w, _)) in enumerate(zip(cells, RATIO_COLUMNS, strict=True))))  # fmt: skip
    held_line = ", ".join(
        f"{m} {s['streams']}"
        + ("" if s["ratio_to_floor"] is None else f" (x{s['ratio_to_floor']:.2f})")
        for m, s in summary.items()
    )
    lines.append(f"streams held: {held_line or '-'}")
    return "\n".join(lines)
