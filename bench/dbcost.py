"""CPU cost of a turn's database work: plan_turn, start_turn, checkpoint_turn ×2, finish_turn,
and the automatic title's (its plan, read after every turn a process has not seen settled,
and its store, after a conversation's first answer: chat/history/title_store.py).

    .venv/bin/python -m bench.dbcost [--turns 200] [--rounds 3] [--pg] [--dump rows.json]

Every turn's services run in one worker thread of the server (asgiref, thread-sensitive), and
that thread holds the GIL against the event loop that relays the deltas; this prints what each
call costs in CPU time of the calling thread (time.thread_time_ns: the database server's own
work on PostgreSQL is not in it, the driver's and Django's are), and how many statements it runs.

Three kinds of turn, N of each per round, after a warm-up, each in a conversation of its own:
"none" (conversation_id None, as `manage.py ask` does: start_turn creates the conversation),
"empty" (a conversation without messages or title, as the web's "new conversation" creates it:
the first turn of every web conversation) and "history" (20 prior messages: a person coming back
to a conversation). Figures: µs of CPU per call, the mean of the best round (the least
disturbed one), the per-turn sum of those, and the per-turn median over all rounds; statements
are those sent through Django's cursor (SQLite's BEGIN is one, PostgreSQL's is not; commits
are not counted).

The database is a temporary SQLite file (WAL, as project.settings configures it), migrated with
`migrate`; with --pg, a throwaway PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/postgres, names the server; Django's psycopg pool as in
production), dropped at the end. The cache is LocMemCache (REDIS_URL is ignored), so the rate
limit costs what it costs without the network. --dump writes every row the run wrote, without
ids and clock values, to compare two versions of the turn services (chat/turns/).
"""

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from typing import Any

FUNCTIONS = (
    "plan_turn", "start_turn", "checkpoint_turn", "finish_turn", "title_plan", "store_title",
)  # fmt: skip
PRIOR_MESSAGES = 20


def _configure(args: argparse.Namespace, tmp: str) -> str | None:
    """Environment for project.settings, before Django starts; returns the PG database name."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    os.environ.setdefault("SECRET_KEY", "bench-dbcost-" + "x" * 40)
    os.environ["RUN_DIR"] = tmp
    os.environ["CHAT_TURNS_PER_MINUTE"] = str(10**9)  # limit checked (cache hit), never reached
    os.environ.pop("REDIS_URL", None)
    os.environ["LOG_LEVEL"] = "WARNING"
    if not args.pg:
        os.environ.pop("DATABASE_URL", None)
        os.environ["SQLITE_PATH"] = os.path.join(tmp, "dbcost.sqlite3")
        return None
    import psycopg

    server = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    name = f"dbcost_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    os.environ["DATABASE_URL"] = server.rsplit("/", 1)[0] + "/" + name
    os.environ["_DBCOST_SERVER"] = server
    return name


def _drop(name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    for conn in connections.all():
        if hasattr(conn, "close_pool"):
            conn.close_pool()
    with psycopg.connect(os.environ["_DBCOST_SERVER"], autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _answer(chars: int) -> tuple[str, list[dict[str, Any]]]:
    """An answer's text and its items, as TurnState keeps them (one message item)."""
    from chat.turns.items import new_item

    text = "".join(f"{i % 1000:03d} " for i in range(chars // 4))
    item = new_item(
        {
            "type": "message",
            "id": "msg_bench",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        },
        0,
    )
    return text, [item.to_dict()]


def _snapshots() -> tuple[list[Any], Any]:
    """Two checkpoints (half and most of the answer) and the final, completed snapshot."""
    from django.utils import timezone

    from chat.turns.snapshot import TurnSnapshot
    from chat.turns.state import TokenUsage

    now = timezone.now()
    common = {"model": "bench-model", "response_id": "resp_bench", "first_event_at": now}
    checkpoints = []
    for chars in (400, 720):
        text, items = _answer(chars)
        checkpoints.append(
            TurnSnapshot(
                status="streaming", text=text, items=items, last_seq=chars // 4, events=chars // 4,
                first_token_at=now, **common,
            )
        )  # fmt: skip
    text, items = _answer(800)
    usage = TokenUsage(
        input_tokens=120, cached_tokens=0, output_tokens=200, reasoning_tokens=0, total_tokens=320
    )
    final = TurnSnapshot(
        status="completed", text=text, items=items, last_seq=203, events=203, usage=usage,
        raw_usage={"input_tokens": 120, "output_tokens": 200, "total_tokens": 320},
        first_token_at=now, **common,
    )  # fmt: skip
    return checkpoints, final


def _title_snapshot() -> Any:
    from chat.turns.snapshot import TurnSnapshot
    from chat.turns.state import TokenUsage

    usage = TokenUsage(
        input_tokens=90, cached_tokens=0, output_tokens=6, reasoning_tokens=0, total_tokens=96
    )
    return TurnSnapshot(
        status="completed", text="Adding a number to itself", items=[], model="bench-model",
        response_id="resp_title", events=9, usage=usage,
    )  # fmt: skip


def _seed(user: Any, count: int, prior: int = PRIOR_MESSAGES) -> list[int]:
    """`count` conversations of the user, each with `prior` finished messages (no title if 0)."""
    from django.db import transaction

    from chat.models import Conversation, Message

    text, items = _answer(800)
    with transaction.atomic():
        conversations = Conversation.objects.bulk_create(
            [Conversation(owner=user, title=f"bench {i}" if prior else "") for i in range(count)]
        )
        rows = []
        for conversation in conversations:
            for i in range(prior):
                if i % 2 == 0:
                    rows.append(Message(conversation=conversation, role="user", text=f"q {i}"))
                else:
                    rows.append(
                        Message(
                            conversation=conversation, role="assistant", text=text, items=items,
                            model="bench-model", response_id=f"resp_{i}",
                        )
                    )  # fmt: skip
        Message.objects.bulk_create(rows, batch_size=500)
    return [c.pk for c in conversations]


class Turns:
    """Runs turns the way TurnRunner does, timing each service call in this thread."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self.checkpoints, self.final = _snapshots()
        self.title = _title_snapshot()
        self.cpu: dict[str, list[int]] = defaultdict(list)
        self.statements: dict[str, list[int]] = defaultdict(list)
        self._count: list[int] | None = None

    def _call(self, name: str, fn: Any, **kwargs: Any) -> Any:
        before = self._count[0] if self._count is not None else 0
        start = time.thread_time_ns()
        result = fn(**kwargs)
        self.cpu[name].append(time.thread_time_ns() - start)
        if self._count is not None:
            self.statements[name].append(self._count[0] - before)
        return result

    def turn(self, conversation_id: int | None, n: int) -> None:
        from chat.turns.plan import plan_turn
        from chat.turns.save import checkpoint_turn, finish_turn
        from chat.turns.start import start_turn

        lease = f"bench:{os.getpid()}:{n}"
        plan = self._call(
            "plan_turn", plan_turn, user=self.user, conversation_id=conversation_id,
            text=f"bench question {n}: what is {n} + {n}?", model="bench-model",
        )  # fmt: skip
        started = self._call("start_turn", start_turn, plan=plan, lease_owner=lease)
        message_id = started.assistant_message_id
        for snapshot in self.checkpoints:
            ok = self._call(
                "checkpoint_turn", checkpoint_turn, message_id=message_id,
                snapshot=snapshot, lease_owner=lease,
            )  # fmt: skip
            assert ok, "checkpoint lost the lease"
        input_chars = sum(len(str(i.get("content", ""))) for i in plan.input)
        stored = self._call(
            "finish_turn", finish_turn, message_id=message_id, snapshot=self.final,
            input_chars=input_chars,
        )  # fmt: skip
        assert stored.status == "completed" and stored.prefetched_usage
        self._title(started.conversation_id, message_id)

    def _title(self, conversation_id: int, message_id: int) -> None:
        from chat.history import title_store

        plan, _settled = self._call(
            "title_plan", title_store.read_plan, conversation_id=conversation_id,
            message_id=message_id, model="bench-model",
        )  # fmt: skip
        if plan is not None:  # the conversation's first answer
            self._call(
                "store_title", title_store.store, plan=plan, title="Adding a number to itself",
                fallback="bench question", usage=self.title, input_chars=300,
            )  # fmt: skip

    def count_statements(self, conversation_ids: list[int | None]) -> dict[str, float]:
        """Statements per call (a separate pass: the wrapper would add to the CPU figures)."""
        from django.db import connection

        self._count = [0]

        def wrapper(execute, sql, params, many, context):  # noqa: ANN001
            self._count[0] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(wrapper):
            for n, cid in enumerate(conversation_ids):
                self.turn(cid, 10_000 + n)
        counts = {k: statistics.mean(v) for k, v in self.statements.items()}
        self._count = None
        self.statements.clear()
        self.cpu.clear()
        return counts


def _dump(path: str) -> None:
    """Every row written, without ids and clocks (nullness and order of clocks kept)."""
    from chat.models import Conversation, Message, UsageRecord

    def clean(row: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in row.items():
            if key == "id" or key.endswith("_id"):
                continue
            if key.endswith("_at"):
                value = value is not None
            out[key] = value
        return out

    rows: dict[str, Any] = {"conversations": [], "messages": [], "usage": []}
    for c in Conversation.objects.order_by("id").values():
        order = c["created_at"] <= c["updated_at"]
        rows["conversations"].append({**clean(c), "created<=updated": order})
    for m in Message.objects.order_by("id").values():
        clocks = [m[k] for k in ("created_at", "queued_at", "first_event_at", "done_at")]
        order = [
            a <= b
            for a, b in zip(clocks, clocks[1:], strict=False)
            if a is not None and b is not None
        ]
        rows["messages"].append({**clean(m), "clock order": order})
    rows["usage"] = [clean(u) for u in UsageRecord.objects.order_by("id").values()]
    with open(path, "w") as out:
        json.dump(rows, out, indent=1, default=str)


def _report(rounds: list[dict[str, dict[str, list[int]]]], statements: dict) -> None:
    """Per call, the mean of the best round ('-': the call did not happen for that kind);
    per turn, the sum of those (two checkpoints) and the median of whole turns."""
    kinds = list(rounds[0])
    print(f"{'µs CPU per call':18}" + "".join(f"{k:>10}{'stmts':>7}" for k in kinds))
    sums = dict.fromkeys(kinds, 0.0)
    for name in FUNCTIONS:
        line = f"{name:18}"
        for kind in kinds:
            if not rounds[0][kind][name]:
                line += f"{'-':>10}{'-':>7}"
                continue
            best = min(statistics.mean(r[kind][name]) for r in rounds) / 1000
            sums[kind] += best * (2 if name == "checkpoint_turn" else 1)
            line += f"{best:10.0f}{statements[kind].get(name, 0):7.1f}"
        print(line)
    print(f"{'per turn (cp ×2)':18}" + "".join(f"{sums[k]:10.0f}{'':7}" for k in kinds))
    line = f"{'  median turn':18}"
    for kind in kinds:
        per_turn = [sum(t) for r in rounds for t in zip(*_per_turn(r[kind]), strict=True)]
        line += f"{statistics.median(per_turn) / 1000:10.0f}{'':7}"
    print(line)


def _per_turn(cpu: dict[str, list[int]]) -> list[list[int]]:
    """Per function, its CPU per turn (the two checkpoints of a turn added; 0 where a turn
    did not call it)."""
    turns = len(cpu["plan_turn"])
    out = []
    for name in FUNCTIONS:
        samples = cpu[name] or [0] * turns
        if name == "checkpoint_turn":
            samples = [a + b for a, b in zip(samples[::2], samples[1::2], strict=True)]
        out.append(samples)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=200, help="turns of each kind per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--dump", help="write the rows written to this JSON file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dbcost-") as tmp:
        pg_name = _configure(args, tmp)
        sys.path.insert(0, os.getcwd())
        import django

        django.setup()
        try:
            return _run(args)
        finally:
            if pg_name:
                _drop(pg_name)


def _run(args: argparse.Namespace) -> int:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    User.objects.create_user(username="bench", password="pw-bench-123")
    user = User.objects.get(username="bench")  # as the consumer gets it: a fresh instance
    per_kind = args.warmup + 5 + args.turns * args.rounds
    conversations = {
        "none": iter(lambda: None, 0),
        "empty": iter(_seed(user, per_kind, prior=0)),
        "history": iter(_seed(user, per_kind)),
    }
    turns = Turns(user)
    n = 0
    for _ in range(args.warmup):
        for kind in conversations:
            turns.turn(next(conversations[kind]), n)
            n += 1
    statements = {
        kind: turns.count_statements([next(ids) for _ in range(5)])
        for kind, ids in conversations.items()
    }
    gc.collect()
    gc.freeze()  # as the server does after start-up
    rounds = []
    for _ in range(args.rounds):
        result = {}
        for kind, ids in conversations.items():
            turns.cpu.clear()
            for _ in range(args.turns):
                turns.turn(next(ids), n)
                n += 1
            result[kind] = {name: turns.cpu.get(name, []) for name in FUNCTIONS}
        rounds.append(result)
    vendor = connection.vendor + (" (psycopg pool)" if args.pg else " (WAL)")
    print(f"bench.dbcost: {vendor}, {args.turns} turns × {args.rounds} rounds of each kind")
    _report(rounds, statements)
    if args.dump:
        _dump(args.dump)
    return 0


if __name__ == "__main__":
    sys.exit(main())
