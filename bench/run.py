"""`make bench`: the real app under a stepped number of concurrent streams. See bench/README.md."""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time

from bench.metrics import MODES
from bench.modes import MODE_DEFS, STEPS
from bench.peer import run_litellm
from bench.procs import RESULTS, ROOT
from bench.report import write_outputs
from bench.stepper import Bench


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated; default: all")
    p.add_argument("--steps", default=",".join(map(str, STEPS)), help="concurrent streams")
    p.add_argument("--rate", type=float, default=50.0, help="deltas per second per answer")
    p.add_argument("--deltas", type=int, default=200, help="deltas per answer")
    p.add_argument("--turns", type=int, default=2, help="answers per stream in a step")
    p.add_argument(
        "--ramp",
        type=float,
        default=None,
        help="seconds to start all streams "
        "(default: one answer's length, so starts come at the steady-state rate)",
    )
    p.add_argument(
        "--server-for-services",
        default="uvicorn",
        choices=["daphne", "uvicorn"],
        help="server of the two-process modes",
    )
    p.add_argument(
        "--no-deflate",
        action="store_true",
        help="clients do not offer permessage-deflate (browsers do)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=540.0,
        help="seconds; no step starts that would end after this",
    )
    p.add_argument(
        "--profile",
        default="",
        metavar="MODE:N",
        help="instead of the stepped run: run MODE at N streams under py-spy",
    )
    p.add_argument("--out", default=str(RESULTS / "latest.json"))
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, DB)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    steps = [int(s) for s in args.steps.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in MODE_DEFS:
            sys.exit(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
        if MODE_DEFS[m].services:
            MODE_DEFS[m].server = args.server_for_services
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    bench = Bench(args)
    print(f"bench: {args.deltas} deltas of {bench.chunk} chars at {args.rate:g}/s per answer, "
          f"{args.turns} answers per stream, streams started over {bench.ramp:g} s; "
          f"work dir {bench.work}", flush=True)  # fmt: skip
    try:
        if args.profile:
            name, n = args.profile.split(":")
            for fmt in ("flamegraph", "raw"):
                bench.run_mode(MODE_DEFS[name], [int(n)], profile=f"{name}-{n}/{fmt}")
            print(f"wrote bench/results/profile-{name}-{n}.svg and .txt; summary:\n")
            subprocess.run([sys.executable, "-m", "bench.profile",
                            str(RESULTS / f"profile-{name}-{n}.txt")], cwd=ROOT)  # fmt: skip
            return 0
        for name in modes:
            if name == "litellm":
                run_litellm(bench, MODE_DEFS[name], steps)
            else:
                bench.run_mode(MODE_DEFS[name], steps)
    except KeyboardInterrupt:
        print("interrupted: writing what was measured", file=sys.stderr)
    finally:
        bench.close()
        if not args.profile:
            write_outputs(
                args,
                rows=bench.rows,
                chunk=bench.chunk,
                ramp=bench.ramp,
                duration_s=time.monotonic() - bench.t0,
                started=started,
            )
    return 0
