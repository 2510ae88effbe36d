"""What a run prints and writes: the table, the machine and git state, latest.json, the chart."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

from bench.metrics import GOAL_P99_MS, MODES
from bench.procs import ROOT
from bench.ratios import add_ratios, ratio_table

COLUMNS = [
    ("mode", 16), ("N", 5), ("add p50", 8), ("p99", 7), ("max", 7), ("ttft+ p50", 9),
    ("p99", 7), ("fr/ans", 6), ("cpu µs/Δ", 8), ("stall", 6), ("KiB/str", 7),
    ("wr/turn", 7), ("layer/t", 7), ("err", 4), ("text", 5), ("pass", 4), ("other", 5),
]  # fmt: skip


def header() -> str:
    return " ".join(f"{name:>{w}}" if i else f"{name:<{w}}" for i, (name, w) in enumerate(COLUMNS))


def _f(x, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def row_cells(row: dict) -> list[str]:
    added = row.get("added_latency_ms", {})
    if row["mode"] == "baseline":
        t = row.get("ttft_ms", {})
        return [row["mode"], str(row["streams"]), _f(added.get("p50"), 2), _f(added.get("p99"), 2),
                _f(added.get("max"), 1), f"({_f(t.get('p50'), 2)})", f"({_f(t.get('p99'), 2)})",
                "-", "-", "-", "-", "-", "-", str(row["errors"]),
                "ok" if not row["lost_text"] else "LOST", "yes" if row["pass"] else "NO",
                _f(row.get("other_cpu_cores"), 2)]  # fmt: skip
    o = row.get("ttft_overhead_ms", {})
    text_ok = row["lost_text"] == 0 and row["stored_ok"] is not False
    return [row["mode"], str(row["streams"]), _f(added.get("p50"), 2), _f(added.get("p99"), 2),
            _f(added.get("max"), 1), _f(o.get("p50"), 2), _f(o.get("p99"), 2),
            _f(row["frames_per_answer"], 0), _f(row["server_cpu_us_per_delta"], 0),
            _f(row["max_loop_stall_ms"], 1), _f(row["rss_kib_per_stream"], 0),
            _f(row["db_writes_per_turn"], 1), _f(row["layer_messages_per_turn"], 1),
            str(row["errors"]), "ok" if text_ok else "LOST", "yes" if row["pass"] else "NO",
            _f(row.get("other_cpu_cores"), 2)]  # fmt: skip


def format_row(row: dict) -> str:
    if row.get("skipped"):
        n = "" if row.get("streams") is None else row["streams"]
        return f"{row['mode']:<16} {n:>5}  skipped: {row['skipped']}"
    cells = row_cells(row)
    return " ".join(
        f"{c:>{w}}" if i else f"{c:<{w}}"
        for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS, strict=True))
    )


_printed_header = False


def print_row(row: dict) -> None:
    global _printed_header
    if not _printed_header:
        print(header(), flush=True)
        _printed_header = True
    print(format_row(row), flush=True)


def table(rows: list[dict]) -> str:
    order = {m: i for i, m in enumerate(["baseline", *MODES])}
    ordered = sorted(rows, key=lambda r: (order.get(r["mode"], 99), r.get("streams") or 0))
    return "\n".join([header(), *(format_row(r) for r in ordered)])


def machine() -> dict:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_mib": mem,
            "python": platform.python_version(), "kernel": platform.release()}  # fmt: skip


def git_state() -> dict:
    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout
        except OSError:
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines()
             if not line[3:].startswith("bench/")]  # fmt: skip
    return {"commit": git("rev-parse", "HEAD").strip(), "dirty_app_files": dirty}


def write_outputs(
    args: argparse.Namespace,
    *,
    rows: list[dict],
    chunk: int,
    ramp: float,
    duration_s: float,
    started: datetime.datetime,
) -> None:
    """The run's table, JSON and chart; plain values in, so this module needs nothing of run.py."""
    held = add_ratios(rows)
    doc = {
        "date": started.isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 1),
        "machine": machine(),
        "git": git_state(),
        "config": {
            "deltas_per_answer": args.deltas,
            "chars_per_delta": chunk,
            "delta_rate_per_s": args.rate,
            "answers_per_stream": args.turns,
            "ramp_s": ramp,
            "goal_p99_ms": GOAL_P99_MS,
            "clients_offer_deflate": not args.no_deflate,
        },  # fmt: skip
        "held": held,
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print()
    print(table(rows))
    print()
    print(ratio_table(rows, held))
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}", end="")
    try:
        from bench.chart import chart

        path = chart(rows, out.with_suffix(""))
        print(f" and {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    except Exception as exc:  # noqa: BLE001
        print(f"\nchart failed: {exc}")
    print(f"total {doc['duration_s']} s")
