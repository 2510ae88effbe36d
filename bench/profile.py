"""Summarise a py-spy raw (collapsed-stack) profile: where the server's time goes.

python -m bench.profile bench/results/profile-daphne-100.txt [--top 25]

Prints the share of busy samples per area (by the file of the innermost frame), per thread
(the event loop's main thread against the `sync_to_async` workers), the top functions by self
time, and the top functions by inclusive time (the function or anything it calls). Samples
where the loop only waits in its selector are counted apart as idle: py-spy's
`--nonblocking` mode reports them as active.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# (area, substrings of the file path), first match wins; the innermost frame decides.
AREAS = [
    ("app: frames/rendering", ("chat/turns/frames", "chat/presenters", "chat/rendering")),
    ("app: runner/registry/consumer", ("chat/turns/", "chat/consumers")),
    ("app: upstream client (sse/events)", ("chat/upstream/",)),
    ("django templates", ("django/template", "template_partials")),
    ("django db / sqlite / psycopg", ("django/db", "sqlite3", "psycopg")),
    ("django other", ("django/",)),
    ("httpx / httpx-aiohttp / httpx-sse", ("httpx",)),
    ("aiohttp", ("aiohttp/",)),
    ("pydantic", ("pydantic",)),
    ("daphne / twisted / autobahn", ("daphne/", "twisted/", "autobahn/", "txaio/")),
    ("uvicorn / websockets", ("uvicorn/", "websockets/")),
    ("channels / asgiref", ("channels/", "asgiref/")),
    ("channels-redis / redis", ("channels_redis", "redis/", "msgpack")),
    ("asyncio event loop", ("asyncio/", "uvloop")),
    ("threads / concurrent", ("threading.py", "concurrent/", "queue.py")),
    ("json / orjson / html", ("json/", "orjson", "html/")),
    ("bench probe", ("bench/",)),
]


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    file = m.group("file")
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({file})"


def area(frame: str) -> str:
    for name, keys in AREAS:
        if any(k in frame for k in keys):
            return name
    return "other"


def idle(frames: list[str]) -> bool:
    leaf = frames[-1]
    return leaf.startswith(("EpollSelector.select", "select (selectors")) or (
        "uvloop" in leaf and "run" in leaf
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    stacks = parse(args.profile)
    idle_samples = sum(c for f, c in stacks if idle(f))
    stacks = [(f, c) for f, c in stacks if not idle(f)]
    total = sum(c for _, c in stacks) or 1
    workers = sum(c for f, c in stacks if f[0].startswith("Thread._bootstrap"))
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    for frames, count in stacks:
        leaf = frames[-1]
        # py-spy marks idle threads' waits; the thread pool's idle wait is not work.
        own[short(leaf)] += count
        areas[area(leaf)] += count
        for f in {short(f) for f in frames}:
            incl[f] += count
    print(f"{total} busy samples (+{idle_samples} idle in the selector)")
    print(f"  {100 * (total - workers) / total:5.1f}%  main thread (event loop)")
    print(f"  {100 * workers / total:5.1f}%  worker threads (sync_to_async: database)")
    print("\nBy area (innermost frame):")
    for name, c in areas.most_common():
        print(f"  {100 * c / total:5.1f}%  {name}")
    print(f"\nTop {args.top} by self time:")
    for name, c in own.most_common(args.top):
        print(f"  {100 * c / total:5.1f}%  {name}")
    print(f"\nTop {args.top} by inclusive time:")
    for name, c in incl.most_common(args.top):
        print(f"  {100 * c / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
