"""Running py-spy on a server process for `python -m bench --profile MODE:N`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bench.procs import RESULTS


def start_py_spy(pid: int, profile: str, seconds: float) -> subprocess.Popen:
    """py-spy on the server for the step: profile-<mode>-<N>.svg (flame graph) or .txt (raw)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    tag, fmt = profile.split("/")
    out = RESULTS / f"profile-{tag}.{'svg' if fmt == 'flamegraph' else 'txt'}"
    # --gil: only samples of the thread holding the GIL, so uvloop's epoll wait (C code, no
    # Python frame of its own) no longer counts as busy time of Runner.run; 400 Hz for a
    # profile of ~1 200 samples rather than ~500.
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "400",
         "--gil", "--format", fmt, "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def finish_py_spy(spy: subprocess.Popen) -> None:
    try:
        spy.wait(60)
    except subprocess.TimeoutExpired:
        spy.terminate()
