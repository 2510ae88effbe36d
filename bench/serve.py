"""Launcher: serves the real app (`project.asgi.application`) with daphne or uvicorn+uvloop,
wrapped by `bench.probe` (loop-lag monitor, database-write and channel-layer counters,
`/__bench__/stats`).

python -m bench.serve --server daphne|uvicorn --port N

Settings come from the environment, as for `daphne project.asgi:application`
(DJANGO_SETTINGS_MODULE is `bench.settings`: the project's settings plus a key prefix for
Redis, so a benchmark never crosses the test suite's groups).
"""

import argparse
import os
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    if os.environ.get("BENCH_SWITCH_INTERVAL"):  # experiment: the GIL's switch interval, s
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    if os.environ.get("BENCH_TRACEMALLOC"):  # experiment: where the memory per stream goes
        import tracemalloc

        tracemalloc.start(4)
    if os.environ.get("BENCH_GC") == "freeze":  # experiment: no collection scans old objects
        import gc

        gc.disable()
    sys.path.insert(0, os.getcwd())

    if args.server == "daphne":
        # Twisted is import-order sensitive: daphne installs its asyncio reactor first.
        import daphne.server  # noqa: F401

    from bench import probe
    from project.asgi import application as app

    probe.install()
    application = probe.wrap(app)

    if args.server == "daphne":
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        # The same defaults as the `daphne` command (daphne/cli.py), without the access log.
        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=args.host, port=args.port),
            http_timeout=None,
            ping_interval=20,
            ping_timeout=30,
            websocket_timeout=86400,
            websocket_connect_timeout=20,
            websocket_handshake_timeout=20,
            application_close_timeout=10,
            verbosity=0,
        ).run()
    else:
        import uvicorn

        from project.serve import server_options

        # The production launcher's settings (project/serve.py), without the access log.
        uvicorn.run(
            application, host=args.host, port=args.port, log_level="warning", access_log=False,
            **server_options(),
        )  # fmt: skip


if __name__ == "__main__":
    main()
