"""The project's settings, unchanged, plus key prefixes on Redis (channel layer and cache).

Benchmark conversation ids are small integers, like the test suite's: with a prefix of its
own, a benchmark sharing a Redis server with a test run never crosses its groups or keys.
"""

import json
import os

from project.settings import *  # noqa: F403
from project.settings import CACHES, CHANNEL_LAYERS

_prefix = os.environ.get("BENCH_REDIS_PREFIX", "")
if _prefix:
    _layer = CHANNEL_LAYERS["default"]
    if "redis" in _layer["BACKEND"]:
        _layer.setdefault("CONFIG", {})["prefix"] = _prefix
    if "redis" in CACHES["default"]["BACKEND"].lower():
        CACHES["default"]["KEY_PREFIX"] = _prefix

# Experiments without editing the app: BENCH_SETTINGS='{"DATABASES.default.CONN_MAX_AGE": null}'
# sets (dotted paths into) settings for the benchmark's server processes only.
for _path, _value in json.loads(os.environ.get("BENCH_SETTINGS") or "{}").items():
    *_parents, _leaf = _path.split(".")
    _target = globals()
    for _name in _parents:
        _target = _target[_name]
    _target[_leaf] = _value
