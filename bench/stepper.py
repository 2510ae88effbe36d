"""One mode's stepped run: start its servers, warm up, then each step of N concurrent streams
against the fake upstream (and the baseline that reads the fake directly), one row a step."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from bench import metrics, procs
from bench.backing import create_database, drop_database, services_reachable, with_db
from bench.fake import answer_text
from bench.metrics import GOAL_P99_MS
from bench.modes import Mode
from bench.procs import RESULTS
from bench.report import print_row
from bench.spy import finish_py_spy, start_py_spy


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.t0 = time.monotonic()
        self.work = Path(tempfile.mkdtemp(prefix="bench-"))
        self.ramp = args.ramp if args.ramp is not None else args.deltas / args.rate
        self.answer_s = args.deltas / args.rate
        self.text, self.chunk = answer_text(args.deltas)
        self.rows: list[dict] = []
        self.baseline: dict[int, dict] = {}
        self.runs = 0
        self.fake = procs.Fake(args.rate, args.deltas, self.work / "fake.log")

    # --- time budget ---
    def step_estimate(self, n: int, processes: int = 1) -> float:
        return self.ramp + self.answer_s * self.args.turns + 4 + n * 0.012 * processes

    def left(self) -> float:
        return self.args.budget - (time.monotonic() - self.t0)

    # --- the environment of the app's processes ---
    def app_env(self, mode: Mode, tag: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHAT_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="bench.settings",
            SECRET_KEY="bench-" + secrets.token_hex(16),
            DEBUG="0",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            RUN_DIR=str(self.work / f"run-{tag}"),
            SQLITE_PATH=str(self.work / f"{tag}.sqlite3"),
            DATABASE_URL="",
            REDIS_URL="",
            OPENAI_BASE_URL=f"{self.fake.url}/v1",
            OPENAI_API_KEY="",
            CHAT_MODEL="fake-model",
            LOG_LEVEL="WARNING",
            LOCAL_MODEL_PRELOAD="0",
            BENCH_REDIS_PREFIX=f"bench-{tag}-{secrets.token_hex(4)}",
            PYTHONUNBUFFERED="1",
        )
        env.update(mode.env)
        return env

    # --- baseline: the fake read directly ---
    def run_baseline(self, n: int) -> dict:
        if n in self.baseline:
            return self.baseline[n]
        plan = {
            "kind": "baseline", "host": "127.0.0.1", "port": self.fake.port, "streams": n,
            "prefix": f"base{n}", "ramp": self.ramp, "turns": self.args.turns,
            "deltas": self.args.deltas, "timeout": self.answer_s + 30,
        }  # fmt: skip
        self.fake.stamps()
        clients = procs.Clients(plan, self.work)
        try:
            ready = json.loads(clients.expect("ready"))
            fake_cpu0 = procs.cpu_seconds(self.fake.proc.pid)
            client0 = procs.cpu_seconds(clients.pid)
            busy0 = procs.machine_busy_seconds()
            t0 = time.time()
            clients.say("go")
            clients.expect("done")
            wall = time.time() - t0
            fake_cpu = procs.cpu_seconds(self.fake.proc.pid) - fake_cpu0
            foreign = (procs.machine_busy_seconds() - busy0 - fake_cpu
                       - (procs.cpu_seconds(clients.pid) - client0))  # fmt: skip
            result = clients.result()
        finally:
            clients.close()
        self.fake.stamps()
        m = metrics.baseline_turns(result["turns"], self.args.deltas)
        errors = ready["failed"] + m["lost"] + (result["failure"] is not None)
        row = {
            "mode": "baseline", "server": None, "processes": 0, "viewers": None, "streams": n,
            "answers": len(result["turns"]),
            "added_latency_ms": metrics.summary(m["added"], 50, 99),
            "deltas_measured": len(m["added"]),
            "ttft_ms": metrics.summary(m["ttft"], 50, 99),
            "fake_cpu_cores": round(fake_cpu / wall, 3),
            "client_cpu_cores": round(result["client_cpu_s"] / wall, 3),
            "other_cpu_cores": round(max(foreign, 0.0) / wall, 3),
            "errors": errors, "lost_text": m["lost"],
            "pass": errors == 0, "duration_s": round(wall, 1),
        }  # fmt: skip
        self.baseline[n] = row
        self.rows.append(row)
        print_row(row)
        return row

    # --- one mode ---
    def run_mode(self, mode: Mode, steps: list[int], profile: str | None = None) -> None:
        reason = None
        pg_admin = pg_db = None
        if mode.services:
            reason, redis_url, pg_admin = services_reachable()
            if reason is None:
                pg_db = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
                try:
                    create_database(pg_admin, pg_db)
                except Exception as exc:  # noqa: BLE001
                    reason = f"cannot create a PostgreSQL database ({exc})"
                    pg_db = None
            if reason is None:
                mode.env = {"REDIS_URL": redis_url, "DATABASE_URL": with_db(pg_admin, pg_db)}
        if reason is not None:
            self.skip(mode, reason)
            return
        self.runs += 1
        env = self.app_env(mode, f"{mode.name}-{self.runs}")
        need = max(steps)
        groups = {"warmup": 1, **{f"s{n}": n for n in steps}}
        servers: list[procs.Server] = []
        try:
            setup = procs.dbtool("setup", {"users": need, "groups": groups}, env)
            for i in range(mode.processes):
                servers.append(procs.Server(mode.server, env, self.work / f"{mode.name}-{i}.log"))
            warm = self.run_step(mode, servers, setup, "warmup", 1, env, turns=1, warmup=True)
            if warm.get("errors"):
                sample = "; ".join(warm.get("error_samples", [])[:2]) or "no text arrived"
                what = "cross-process relay" if mode.viewers == "other" else "app"
                self.skip(mode, f"{what} does not work yet: the warm-up turn failed ({sample})")
                return
            idle_rss = sum(procs.rss_bytes(s.pid) for s in servers)
            idle_cpu = measure_idle(servers)
            for n in steps:
                if self.left() < self.step_estimate(n, mode.processes) + (
                    0 if n in self.baseline else self.step_estimate(n)
                ):
                    self.skip(mode, "time budget (--budget) spent", n)
                    break
                base = self.run_baseline(n) if profile is None else None
                row = self.run_step(
                    mode, servers, setup, f"s{n}", n, env, idle_rss=idle_rss, base=base,
                    profile=profile, idle_cpu=idle_cpu,
                )  # fmt: skip
                self.rows.append(row)
                print_row(row)
                if os.environ.get("BENCH_TRACEMALLOC"):
                    report = procs.get_text(f"{servers[0].url}/__bench__/memory")
                    (RESULTS / f"memory-{mode.name}-{n}.txt").write_text(report)
                if not row["pass"] and mode.server != "floor":
                    break  # the floor is the yardstick: it measures every step asked
        finally:
            for server in servers:
                server.close()
            if pg_db is not None:
                drop_database(pg_admin, pg_db)

    def skip(self, mode: Mode, reason: str, n: int | None = None) -> None:
        row = {"mode": mode.name, "server": mode.server, "processes": mode.processes,
               "viewers": mode.viewers, "streams": n, "skipped": reason, "pass": False}  # fmt: skip
        self.rows.append(row)
        print(f"{mode.name:<16} {'' if n is None else n:>5}  skipped: {reason}", flush=True)

    def plan(self, mode: Mode, servers: list[procs.Server], setup: dict, group: str,
             turns: int) -> dict:  # fmt: skip
        convs = setup["groups"][group]
        sockets, streams = [], []
        for i, conv in enumerate(convs):
            cookie = setup["sessions"][i]
            home = servers[i % len(servers)]
            path = f"/ws/conversations/{conv}/"
            sockets.append({"port": home.port, "path": path, "cookie": cookie})
            sender = len(sockets) - 1
            viewer = sender
            if mode.viewers == "other":
                other = servers[(i + 1) % len(servers)]
                sockets.append({"port": other.port, "path": path, "cookie": cookie})
                viewer = len(sockets) - 1
            streams.append({"conv": conv, "sender": sender, "viewer": viewer})
        return {
            "kind": "ws", "host": "127.0.0.1", "sockets": sockets, "streams": streams,
            "ramp": self.ramp if len(convs) > 1 else 0.0, "turns": turns,
            "deltas": self.args.deltas, "timeout": self.answer_s + 30,
            "deflate": not self.args.no_deflate, "suffix": mode.suffix,
        }  # fmt: skip

    def run_step(self, mode, servers, setup, group, n, env, *, turns=None, warmup=False,
                 idle_rss=0, base=None, profile=None, idle_cpu=0.0) -> dict:  # fmt: skip
        turns = turns or self.args.turns
        plan = self.plan(mode, servers, setup, group, turns)
        pids = [s.pid for s in servers]
        self.fake.stamps()
        for s in servers:
            s.stats(reset=True)
        clients = procs.Clients(plan, self.work)
        spy = None
        try:
            ready = json.loads(clients.expect("ready"))
            cpu0 = sum(procs.cpu_seconds(p) for p in pids)
            loop0 = sum(procs.thread_cpu_seconds(p)[0] for p in pids)
            fake0 = procs.cpu_seconds(self.fake.proc.pid)
            client0 = procs.cpu_seconds(clients.pid)
            busy0 = procs.machine_busy_seconds()
            for s in servers:
                s.stats(reset=True)
            if profile:
                spy = start_py_spy(servers[0].pid, profile, self.ramp + turns * self.answer_s + 1)
            with procs.RssSampler(pids) as rss:
                t0 = time.time()
                clients.say("go")
                clients.expect("done")
                wall = time.time() - t0
            cpu = sum(procs.cpu_seconds(p) for p in pids) - cpu0
            loop_cpu = sum(procs.thread_cpu_seconds(p)[0] for p in pids) - loop0
            fake_cpu = procs.cpu_seconds(self.fake.proc.pid) - fake0
            client_cpu = procs.cpu_seconds(clients.pid) - client0
            foreign = procs.machine_busy_seconds() - busy0 - cpu - fake_cpu - client_cpu
            stats = [s.stats(reset=True) for s in servers]
            result = clients.result()
        finally:
            clients.close()
            if spy is not None:
                finish_py_spy(spy)
        stamps = self.fake.stamps()
        m = metrics.app_turns(result["turns"], stamps, self.chunk, self.args.deltas)
        persisted = mode.server != "floor"  # the floor stores nothing: nothing to read back
        stored = (procs.dbtool("verify", {"conversations": setup["groups"][group]}, env)
                  if persisted else {})  # fmt: skip
        mismatches = 0
        for turn in result["turns"] if persisted else ():
            answers = stored.get(str(turn["conv"]), [])
            k = turn["turn"] - 1
            if k >= len(answers) or answers[k] != ["completed", self.text]:
                mismatches += 1
        started = len(result["turns"])
        expected_turns = len(plan["streams"]) * turns
        errors = (
            ready["failed"] + len(m["errors"]) + (expected_turns - started)
            + (result["failure"] is not None)
        )  # fmt: skip
        if warmup:
            return {"errors": errors or (m["lost"] + mismatches),
                    "error_samples": m["errors"][:3] or ready["errors"][:3]}  # fmt: skip
        w = metrics.writes(stats, result["turns"], stamps)
        layer = {}
        for s in stats:
            for k, v in s["layer"].items():
                layer[k] = layer.get(k, 0) + v
        deltas = max(m["deltas_sent"], 1)
        added = metrics.summary(m["added"], 50, 99)
        ttft = metrics.summary(m["ttft"], 50, 99)
        overhead = metrics.ttft_overhead(ttft, base)
        max_stall = max(s["max_stall_ms"] for s in stats)
        reasons = []
        if added.get("p99") is None or added["p99"] > GOAL_P99_MS:
            reasons.append(f"p99 added latency {added.get('p99')} ms > {GOAL_P99_MS:g}")
        if errors:
            reasons.append(f"{errors} errors")
        if m["lost"] or mismatches:
            reasons.append(f"lost text in {m['lost']} answers, {mismatches} stored answers differ")
        return {
            "mode": mode.name, "server": mode.server, "processes": mode.processes,
            "viewers": mode.viewers, "streams": n, "answers": started,
            "added_latency_ms": added,
            "added_latency_all_ms": metrics.summary(m["added_all"], 50, 99),
            "deltas_measured": len(m["added"]),
            "ttft_ms": ttft,
            "ttft_overhead_ms": overhead,
            "upstream_request_ms": metrics.summary(m["request"], 50, 99),
            "frames_per_answer": round(sum(m["frames"]) / max(len(m["frames"]), 1), 1),
            "server_cpu_us_per_delta": round(cpu / deltas * 1e6, 1),
            "server_cpu_loop_us_per_delta": round(loop_cpu / deltas * 1e6, 1),
            "server_cpu_threads_us_per_delta": round((cpu - loop_cpu) / deltas * 1e6, 1),
            "server_idle_cpu_cores": round(idle_cpu, 4),
            "server_cpu_cores": round(cpu / wall, 3),
            "fake_cpu_cores": round(fake_cpu / wall, 3),
            "client_cpu_cores": round(result["client_cpu_s"] / wall, 3),
            "other_cpu_cores": round(max(foreign, 0.0) / wall, 3),
            "max_loop_stall_ms": round(max_stall, 2),
            "loop_stalls_over_10ms": sum(s["stalls_over_10ms"] for s in stats),
            "rss_idle_mib": round(idle_rss / 2**20, 1),
            "rss_peak_mib": round(rss.peak / 2**20, 1),
            "rss_kib_per_stream": round((rss.peak - idle_rss) / 1024 / n, 1),
            "db_writes_per_turn": w["per_turn"],
            "db_writes_by_statement": w["by_statement"],
            "db_writes_before_upstream_request": w["before_upstream"],
            "layer_messages_per_turn": round(
                (layer.get("send", 0) + layer.get("group_send", 0)) / max(started, 1), 2),
            "layer_calls": layer,
            "errors": errors,
            "error_samples": (ready["errors"] + m["errors"])[:5],
            "lost_text": m["lost"],
            "missing_deltas": m["missing_deltas"],
            "stored_ok": mismatches == 0 if persisted else None,
            "stored_mismatches": mismatches,
            "ws_deflate": ready["deflate"],
            "pass": not reasons,
            "fail_reasons": reasons,
            "duration_s": round(wall, 1),
        }  # fmt: skip

    def close(self) -> None:
        self.fake.close()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def measure_idle(servers: list[procs.Server], seconds: float = 2.0) -> float:
    """CPU cores the servers burn with no socket and no turn (timers, sweeper, the probe)."""
    pids = [s.pid for s in servers]
    cpu0 = sum(procs.cpu_seconds(p) for p in pids)
    time.sleep(seconds)
    return (sum(procs.cpu_seconds(p) for p in pids) - cpu0) / seconds
