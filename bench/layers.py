"""CPU per message of the two channels_redis layers, measured in one run on the local Redis.

    .venv/bin/python -m bench.layers [--messages 3000]

One process sends N messages of a typical frame size to a channel and receives them; the
figure is process CPU time (user+sys) divided by N, for RedisChannelLayer and
RedisPubSubChannelLayer side by side. The app uses the cheaper one (project/settings.py).
"""

import argparse
import asyncio
import os
import time
import uuid

from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
FRAME = {
    "type": "bridge",
    "body": {"kind": "frame", "conversation": 1, "seq": 1, "html": "x" * 400},
}


async def measure(layer, messages: int) -> float:
    channel = await layer.new_channel("bench.")
    await layer.send(channel, FRAME)  # warm up the connection
    await layer.receive(channel)
    started = time.process_time()
    for _ in range(messages):
        await layer.send(channel, FRAME)
        await layer.receive(channel)
    return (time.process_time() - started) / messages * 1e6


async def main(messages: int) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    core = RedisChannelLayer(hosts=[REDIS], prefix=prefix, capacity=messages + 10)
    pubsub = RedisPubSubChannelLayer(hosts=[REDIS], prefix=prefix)
    results = {"RedisChannelLayer": await measure(core, messages)}
    results["RedisPubSubChannelLayer"] = await measure(pubsub, messages)
    await pubsub.flush()
    await core.flush()
    floor = min(results.values())
    for name, cpu in results.items():
        print(f"{name:26s} {cpu:8.1f} µs CPU per message (send+receive)  x{cpu / floor:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    asyncio.run(main(parser.parse_args().messages))
