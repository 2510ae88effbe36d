"""p99 added latency against concurrent streams, one line per mode (PNG by matplotlib, else SVG)."""

from __future__ import annotations

from pathlib import Path

GOAL_MS = 50.0


def series(rows: list[dict]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        p99 = (row.get("added_latency_ms") or {}).get("p99")
        if row.get("skipped") or p99 is None:
            continue
        out.setdefault(row["mode"], []).append((row["streams"], p99))
    return {mode: sorted(points) for mode, points in out.items()}


def chart(rows: list[dict], stem: Path) -> Path:
    data = series(rows)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _svg(data, stem.with_suffix(".svg"))
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for mode, points in data.items():
        xs, ys = zip(*points, strict=True)
        style = {"linestyle": "--", "color": "grey"} if mode == "baseline" else {}
        ax.plot(xs, ys, marker="o", label=mode, **style)
    ax.axhline(GOAL_MS, color="red", linewidth=0.8, linestyle=":", label=f"goal {GOAL_MS:g} ms")
    ax.set_xlabel("concurrent streams")
    ax.set_ylabel("p99 added latency per delta (ms)")
    ax.set_yscale("log")
    ax.set_title("Upstream send → browser receive, p99 (lower is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    path = stem.with_suffix(".png")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _svg(data: dict[str, list[tuple[int, float]]], path: Path) -> Path:
    """A plain SVG line chart, for machines without matplotlib."""
    import math

    w, h, pad = 720, 440, 60
    xs = [x for pts in data.values() for x, _ in pts] or [1]
    ys = [y for pts in data.values() for _, y in pts] + [GOAL_MS]
    xmax = max(xs)
    lo, hi = math.log10(max(min(ys), 0.01)), math.log10(max(ys) * 1.2)
    hi = max(hi, lo + 1)

    def px(x: float) -> float:
        return pad + (w - 2 * pad) * x / xmax

    def py(y: float) -> float:
        return h - pad - (h - 2 * pad) * (math.log10(max(y, 0.01)) - lo) / (hi - lo)

    colors = ["#777", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<line x1="{pad}" y1="{h-pad}" x2="{w-pad}" y2="{h-pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h-pad}" stroke="black"/>',
             f'<text x="{w/2}" y="{h-15}" text-anchor="middle">concurrent streams</text>',
             f'<text x="15" y="{h/2}" transform="rotate(-90 15 {h/2})" text-anchor="middle">'
             "p99 added latency (ms, log)</text>",
             f'<line x1="{pad}" y1="{py(GOAL_MS)}" x2="{w-pad}" y2="{py(GOAL_MS)}" stroke="red" '
             'stroke-dasharray="4"/>']  # fmt: skip
    for i, (mode, points) in enumerate(data.items()):
        c = colors[i % len(colors)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{c}" stroke-width="2"/>')
        parts.append(f'<text x="{w - pad + 5}" y="{pad + 15 * i}" fill="{c}">{mode}</text>')
        for x, y in points:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>')
    for x in sorted(set(xs)):
        parts.append(f'<text x="{px(x):.1f}" y="{h - pad + 15}" text-anchor="middle">{x}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts))
    return path
