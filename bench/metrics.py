"""Turning the clients' read times and the fake's send stamps into the reported figures."""

from __future__ import annotations

import math

MODES = [
    "floor",
    "daphne",
    "uvicorn",
    "uvicorn-tools",
    "litellm",
    "redis-pg-local",
    "redis-pg-remote",
]
GOAL_P99_MS = 50.0  # a step passes at or under this p99 added latency (and with no error)


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None when there is nothing to rank."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float], *points: int) -> dict:
    out = {f"p{p}": _r(pct(values, p)) for p in points}
    if values:
        out["max"] = _r(max(values))
    return out


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def steady_window(turns: list[dict], key: str = "stream") -> tuple[float, float]:
    """From the last stream's first send to the first stream's last end: all N live."""
    first_send: dict[int, float] = {}
    last_end: dict[int, float] = {}
    for t in turns:
        s = t[key]
        first_send[s] = min(first_send.get(s, math.inf), t["t_send"])
        if t.get("t_done") is not None:
            last_end[s] = max(last_end.get(s, 0.0), t["t_done"])
    if not first_send or not last_end:
        return (0.0, math.inf)
    start, end = max(first_send.values()), min(last_end.values())
    return (start, end) if end > start else (0.0, math.inf)


def app_turns(turns: list[dict], stamps: dict, chunk: int, deltas: int) -> dict:
    """Per-delta added latency, TTFT and the rest, for the WebSocket clients' turns."""
    start, end = steady_window(turns)
    added, added_all, ttft, request, frames = [], [], [], [], []
    missing = lost = 0
    errors: list[str] = []
    deltas_sent = 0
    for turn in turns:
        errors += [f"{turn['key']}: {e}" for e in turn["errors"]]
        if turn["status"] != "completed":
            errors.append(f"{turn['key']}: ended {turn['status']}")
        stamp = stamps.get(turn["key"])
        if stamp is None:
            errors.append(f"{turn['key']}: the upstream never got its request")
            continue
        sent = stamp["sent"]
        deltas_sent += len(sent)
        times, lengths = turn["times"], turn["lengths"]
        j = 0
        turn_missing = 0
        for i, s in enumerate(sent):
            need = (
                i + 1
            ) * chunk - 1  # its digits arrived (the final render drops a trailing space)
            while j < len(lengths) and lengths[j] < need:
                j += 1
            if j == len(lengths):
                turn_missing += 1
                continue
            ms = (times[j] - s) * 1000
            added_all.append(ms)
            if start <= s <= end:
                added.append(ms)
        missing += turn_missing
        if turn_missing or len(sent) != deltas or not turn["streamed_ok"] or not turn["final_ok"]:
            lost += 1
        if times and start <= turn["t_send"] <= end:
            ttft.append((times[0] - turn["t_send"]) * 1000)
            request.append((stamp["req"] - turn["t_send"]) * 1000)
        frames.append(turn["frames"])
    return {
        "added": added,
        "added_all": added_all,
        "ttft": ttft,
        "request": request,
        "frames": frames,
        "missing_deltas": missing,
        "lost": lost,
        "errors": errors,
        "deltas_sent": deltas_sent,
        "window": (start, end),
    }


def baseline_turns(turns: list[dict], deltas: int) -> dict:
    start, end = steady_window(turns)
    added, ttft = [], []
    errors, lost = [], 0
    for turn in turns:
        if not turn.get("ok") or len(turn["sent"]) != deltas:
            lost += 1
        for s, r in zip(turn["sent"], turn["recv"], strict=True):
            if start <= s <= end:
                added.append((r - s) * 1000)
        if turn["recv"] and start <= turn["t_send"] <= end:
            ttft.append((turn["recv"][0] - turn["t_send"]) * 1000)
    return {"added": added, "ttft": ttft, "lost": lost, "errors": errors}


def writes(stats: list[dict], turns: list[dict], stamps: dict) -> dict:
    """Database writes per turn (by statement), and those done before the upstream request."""
    rows = [w for s in stats for w in s["writes"]]
    by_kind: dict[str, int] = {}
    for _start, _end, _conv, kind, table in rows:
        name = f"{kind} {table}"
        by_kind[name] = by_kind.get(name, 0) + 1
    per_conv: dict[int, list] = {}
    for w in rows:
        if w[2] is not None:
            per_conv.setdefault(w[2], []).append(w)
    before = 0
    turns_with = 0
    for turn in turns:
        stamp = stamps.get(turn["key"])
        if stamp is None:
            continue
        n = sum(
            1
            for w in per_conv.get(turn["conv"], ())
            if turn["t_send"] <= w[0] and w[1] <= stamp["req"]
        )
        before += n
        turns_with += bool(n)
    count = max(len(turns), 1)
    return {
        "per_turn": round(len(rows) / count, 2),
        "by_statement": {k: round(v / count, 2) for k, v in sorted(by_kind.items())},
        "before_upstream": before,
        "turns_with_write_before_upstream": turns_with,
        "unattributed": sum(1 for w in rows if w[2] is None),
    }


def ttft_overhead(ttft: dict, base: dict | None) -> dict:
    """TTFT minus the baseline's at the same percentile (empty without a baseline)."""
    if base is None:
        return {}
    overhead = {}
    for p in ("p50", "p99"):
        a, b = ttft.get(p), base["ttft_ms"].get(p)
        overhead[p] = None if a is None or b is None else round(a - b, 3)
    return overhead
