"""Processes the orchestrator starts, and what it reads of them from /proc."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU of the main thread, which runs the event loop; CPU of all other threads)."""
    main = cpu_seconds_of(f"/proc/{pid}/task/{pid}/stat")
    return main, cpu_seconds(pid) - main


def cpu_seconds_of(stat_path: str) -> float:
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU time all processes on the machine have spent busy (from /proc/stat), in seconds."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return (sum(v[:8]) - idle) / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def get_json(url: str, timeout: float = 10.0):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def get_text(url: str, timeout: float = 60.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def stop(proc: subprocess.Popen | None, grace: float = 20.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class RssSampler:
    """Peak of the summed RSS of some processes, sampled every 100 ms in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, sum(rss_bytes(p) for p in self.pids))
            except OSError:
                pass
            self._stop.wait(0.1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Fake:
    """The fake upstream (bench.fake) in its own process."""

    def __init__(self, rate: float, deltas: int, log: Path) -> None:
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [PY, "-m", "bench.fake", "--port", "0", "--rate", str(rate), "--deltas", str(deltas)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "port":
            raise RuntimeError(f"the fake upstream did not start; see {log}")
        self.port = int(line[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def stamps(self) -> dict:
        return get_json(f"{self.url}/__fake__/stamps?clear=1", timeout=30)

    def close(self) -> None:
        stop(self.proc, 5)
        self.log.close()


class Server:
    """One server process: `python -m bench.serve` (the real app behind bench.probe), or the floor."""

    def __init__(self, kind: str, env: dict[str, str], log: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("w")
        if kind == "floor":  # the bare relay (bench/floor.py) in place of the app
            cmd = [PY, "-m", "bench.floor", "--port", str(self.port)]
        else:
            cmd = [PY, "-m", "bench.serve", "--server", kind, "--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.proc.pid
        deadline = time.monotonic() + 60
        while True:
            try:
                self.stats()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} did not start; see {log}") from None
                time.sleep(0.2)

    def stats(self, reset: bool = False) -> dict:
        return get_json(f"{self.url}/__bench__/stats" + ("?reset=1" if reset else ""), 30)

    def close(self) -> None:
        stop(self.proc)
        self.log.close()


class Clients:
    """A bench.clients process running one plan."""

    def __init__(self, plan: dict, workdir: Path) -> None:
        fd, self.plan_path = tempfile.mkstemp(suffix=".json", dir=workdir)
        with os.fdopen(fd, "w") as f:
            json.dump(plan, f)
        self.result_path = self.plan_path.replace(".json", "-result.json")
        self.proc = subprocess.Popen(
            [PY, "-m", "bench.clients", self.plan_path, self.result_path],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = self.proc.pid

    def expect(self, word: str) -> str:
        line = self.proc.stdout.readline()
        if not line.startswith(word):
            self.proc.kill()
            raise RuntimeError(f"clients: expected {word!r}, got {line!r}")
        return line[len(word) :].strip()

    def say(self, word: str) -> None:
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def result(self) -> dict:
        with open(self.result_path, "rb") as f:
            return json.loads(f.read())

    def close(self) -> None:
        try:
            self.say("close")
            self.expect("bye")
        except (OSError, RuntimeError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for path in (self.plan_path, self.result_path):
            try:
                os.unlink(path)
            except OSError:
                pass


def dbtool(command: str, spec: dict, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [PY, "-m", "bench.dbtool", command],
        cwd=ROOT,
        env=env,
        input=json.dumps(spec),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"dbtool {command} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)
