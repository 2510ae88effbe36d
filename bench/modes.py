"""The modes `make bench` can run: which server, how many processes, who watches, what backs them."""

from __future__ import annotations

from dataclasses import dataclass, field

STEPS = [1, 10, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]


@dataclass
class Mode:
    name: str
    server: str  # daphne | uvicorn
    processes: int = 1
    viewers: str = (
        "runner"  # runner: the socket that sends watches; other: a tab on the other process
    )
    services: bool = False  # REDIS_URL + DATABASE_URL
    env: dict = field(default_factory=dict)
    suffix: str = ""  # " +tools": each answer comes after a reasoning + function-call round


MODE_DEFS = {
    # The thinnest relay doing the same job (bench/floor.py): every figure is also a ratio to it.
    "floor": Mode("floor", "floor"),
    "daphne": Mode("daphne", "daphne"),
    "uvicorn": Mode("uvicorn", "uvicorn"),
    # The same, each answer after a round with a reasoning summary and a clock tool call.
    "uvicorn-tools": Mode("uvicorn-tools", "uvicorn", suffix=" +tools"),
    # A peer: LiteLLM's proxy between the same fake and bare SSE clients (bench/peer.py).
    "litellm": Mode("litellm", "litellm"),
    # The two-process modes run the production server (project/serve.py) unless told otherwise.
    "redis-pg-local": Mode("redis-pg-local", "uvicorn", 2, "runner", True),
    "redis-pg-remote": Mode("redis-pg-remote", "uvicorn", 2, "other", True),
}
