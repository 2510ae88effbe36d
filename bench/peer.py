"""The `litellm` mode: LiteLLM's proxy between the same fake upstream and bare SSE clients.

A peer measured in the same run as ours, on the same columns: added latency per delta, TTFT
overhead (against the baseline at the same N), CPU per delta, RSS per stream, streams held.
LiteLLM is installed on demand into its own virtualenv (`bench/.peer/litellm`, git-ignored,
pinned below; ~2 min and ~756 MB the first time), never into the project's, and never by
`make test`. When it cannot be installed or does not start, the mode is skipped with the reason.

The clients are the baseline's (bench/baseline.py): one HTTP/1.1 connection per stream,
`POST /v1/responses` with `"stream": true` and the proxy's master key; LiteLLM relays the
fake's events as `data:`-only SSE and keeps their `sent_at`.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import metrics, procs
from bench.metrics import GOAL_P99_MS
from bench.report import print_row

LITELLM_VERSION = "1.108.7"
VENV = procs.ROOT / "bench" / ".peer" / "litellm"
INSTALL_TIMEOUT_S = 900
START_TIMEOUT_S = 120


def installed_version() -> str | None:
    python = VENV / "bin" / "python"
    if not (VENV / "bin" / "litellm").is_file():
        return None
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.stdout.strip() or None


def ensure_litellm() -> str | None:
    """Install the pinned LiteLLM proxy if it is not there; None when ready, else why not."""
    if installed_version() == LITELLM_VERSION:
        return None
    print(f"litellm: installing litellm[proxy]=={LITELLM_VERSION} into {VENV} "
          "(first run only, ~2 min)", flush=True)  # fmt: skip
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"],
            check=True, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        tail = exc.stderr or b""
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        last = tail.strip().splitlines()[-1:] or ["no output"]
        return f"cannot install litellm {LITELLM_VERSION} ({last[0][:200]})"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot install litellm {LITELLM_VERSION} ({exc})"
    return None


class LiteLLM:
    """The proxy in its own process, configured for the fake upstream, on loopback."""

    def __init__(self, fake_url: str, workdir: Path) -> None:
        self.port = procs.free_port()
        self.key = "sk-bench-" + secrets.token_hex(8)
        config = workdir / "litellm.yaml"
        config.write_text(
            "model_list:\n  - model_name: fake\n    litellm_params:\n"
            f"      model: openai/fake\n      api_base: {fake_url}/v1\n      api_key: sk-fake\n"
        )
        env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "LITELLM_MASTER_KEY": self.key, "LITELLM_LOG": "ERROR"}  # fmt: skip
        self.log = (workdir / "litellm.log").open("w")
        self.proc = subprocess.Popen(
            [str(VENV / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1",
             "--port", str(self.port)],
            cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.pid = self.proc.pid

    def wait_ready(self) -> str | None:
        deadline = time.monotonic() + START_TIMEOUT_S
        url = f"http://127.0.0.1:{self.port}/health/liveliness"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"litellm exited at start (code {self.proc.returncode}; see litellm.log)"
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return None
            except OSError:
                time.sleep(0.5)
        return f"litellm did not answer within {START_TIMEOUT_S} s"

    def close(self) -> None:
        procs.stop(self.proc, 10)
        self.log.close()


def run_litellm(bench, mode, steps: list[int]) -> None:
    """The peer's steps, each right after the baseline at the same N (`bench` is stepper.Bench)."""
    reason = ensure_litellm()
    proxy = None
    try:
        if reason is None:
            proxy = LiteLLM(bench.fake.url, bench.work)
            reason = proxy.wait_ready()
        if reason is None:
            warm = _step(bench, proxy, 1, turns=1, prefix="peerwarm")
            if warm["errors"]:
                reason = "the warm-up answer through litellm failed"
        if reason is not None:
            bench.skip(mode, reason)
            return
        idle_rss = procs.rss_bytes(proxy.pid)
        for n in steps:
            if bench.left() < bench.step_estimate(n) * 2:
                bench.skip(mode, "time budget (--budget) spent", n)
                break
            base = bench.run_baseline(n)
            row = _step(bench, proxy, n, base=base, idle_rss=idle_rss, prefix=f"peer{n}")
            bench.rows.append(row)
            print_row(row)
            if not row["pass"]:
                break
    finally:
        if proxy is not None:
            proxy.close()


def _step(bench, proxy: LiteLLM, n: int, *, turns: int | None = None, prefix: str,
          base: dict | None = None, idle_rss: int = 0) -> dict:  # fmt: skip
    args = bench.args
    turns = turns or args.turns
    plan = {
        "kind": "baseline", "host": "127.0.0.1", "port": proxy.port, "streams": n,
        "prefix": prefix, "ramp": bench.ramp if n > 1 else 0.0, "turns": turns,
        "deltas": args.deltas, "timeout": bench.answer_s + 30, "model": "fake",
        "api_key": proxy.key,
    }  # fmt: skip
    bench.fake.stamps()
    clients = procs.Clients(plan, bench.work)
    try:
        ready = json.loads(clients.expect("ready"))
        cpu0 = procs.cpu_seconds(proxy.pid)
        loop0 = procs.thread_cpu_seconds(proxy.pid)[0]
        fake0 = procs.cpu_seconds(bench.fake.proc.pid)
        client0 = procs.cpu_seconds(clients.pid)
        busy0 = procs.machine_busy_seconds()
        with procs.RssSampler([proxy.pid]) as rss:
            t0 = time.time()
            clients.say("go")
            clients.expect("done")
            wall = time.time() - t0
        cpu = procs.cpu_seconds(proxy.pid) - cpu0
        loop_cpu = procs.thread_cpu_seconds(proxy.pid)[0] - loop0
        fake_cpu = procs.cpu_seconds(bench.fake.proc.pid) - fake0
        client_cpu = procs.cpu_seconds(clients.pid) - client0
        foreign = procs.machine_busy_seconds() - busy0 - cpu - fake_cpu - client_cpu
        result = clients.result()
    finally:
        clients.close()
    bench.fake.stamps()
    m = metrics.baseline_turns(result["turns"], args.deltas)
    errors = (ready["failed"] + m["lost"] + (result["failure"] is not None)
              + n * turns - len(result["turns"]))  # fmt: skip
    deltas = max(sum(len(t["sent"]) for t in result["turns"]), 1)
    added = metrics.summary(m["added"], 50, 99)
    ttft = metrics.summary(m["ttft"], 50, 99)
    overhead = metrics.ttft_overhead(ttft, base)
    reasons = []
    if added.get("p99") is None or added["p99"] > GOAL_P99_MS:
        reasons.append(f"p99 added latency {added.get('p99')} ms > {GOAL_P99_MS:g}")
    if errors:
        reasons.append(f"{errors} errors (answers lost, cut or never started)")
    return {
        "mode": "litellm", "server": f"litellm {LITELLM_VERSION}", "processes": 1,
        "viewers": None, "streams": n, "answers": len(result["turns"]),
        "added_latency_ms": added, "deltas_measured": len(m["added"]),
        "ttft_ms": ttft, "ttft_overhead_ms": overhead,
        "frames_per_answer": None,
        "server_cpu_us_per_delta": round(cpu / deltas * 1e6, 1),
        "server_cpu_loop_us_per_delta": round(loop_cpu / deltas * 1e6, 1),
        "server_cpu_threads_us_per_delta": round((cpu - loop_cpu) / deltas * 1e6, 1),
        "server_cpu_cores": round(cpu / wall, 3),
        "fake_cpu_cores": round(fake_cpu / wall, 3),
        "client_cpu_cores": round(result["client_cpu_s"] / wall, 3),
        "other_cpu_cores": round(max(foreign, 0.0) / wall, 3),
        "max_loop_stall_ms": None,
        "rss_idle_mib": round(idle_rss / 2**20, 1),
        "rss_peak_mib": round(rss.peak / 2**20, 1),
        "rss_kib_per_stream": round((rss.peak - idle_rss) / 1024 / n, 1),
        "db_writes_per_turn": None, "layer_messages_per_turn": None,
        "errors": errors, "error_samples": ready["errors"][:5],
        "lost_text": m["lost"], "stored_ok": None,
        "pass": not reasons, "fail_reasons": reasons, "duration_s": round(wall, 1),
    }  # fmt: skip
