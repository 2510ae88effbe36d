"""The production server: `python -m project.serve [--host H] [--port P]`.

uvicorn on uvloop and httptools, chosen over daphne by `make bench` (bench/README.md): at the
same load it spends less CPU per relayed delta and holds more live streams in one process.
WebSocket compression is off: deflating every small frame cost ~10 µs of CPU per delta, and
frames are a few hundred bytes. daphne still works (`daphne project.asgi:application`); the
turn registry's shutdown handling (chat/turns/lifecycle.py) chains to either server's own.
"""

import argparse
import os
from typing import Any


def server_options() -> dict[str, Any]:
    """uvicorn settings shared by this launcher and the benchmark's."""
    return {
        "loop": "uvloop",
        "http": "httptools",
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
        "ws_ping_interval": 20.0,  # keeps idle sockets alive through proxies, finds dead ones
        "ws_ping_timeout": 30.0,
        # The sweeper and signal handling start with the server (chat/turns/lifecycle.py).
        "lifespan": "on",
        "backlog": 4096,
        # Behind nginx: trust X-Forwarded-For/-Proto from these addresses only.
        "proxy_headers": True,
        "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        # After the registry saved or handed off every turn, close the sockets in this time.
        "timeout_graceful_shutdown": 10,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--log-level", default=os.environ.get("SERVER_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

    import uvicorn

    uvicorn.run(
        "project.asgi:application",
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        **server_options(),
    )


if __name__ == "__main__":
    main()
