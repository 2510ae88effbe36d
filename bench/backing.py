"""The two-process modes' PostgreSQL and Redis: are they there, and a database of our own."""

from __future__ import annotations

import os
import sys


def services_reachable() -> tuple[str | None, str, str]:
    """(reason it cannot run or None, Redis URL, PostgreSQL admin URL)."""
    redis_url = (
        os.environ.get("BENCH_REDIS_URL")
        or os.environ.get("REDIS_URL")
        or ("redis://127.0.0.1:6379/0")
    )
    pg_url = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or ("postgres://postgres@127.0.0.1:5432/postgres")
    )
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis not reachable at {redis_url} ({exc})", redis_url, pg_url
    try:
        import psycopg

        with psycopg.connect(pg_url, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL not reachable at {pg_url} ({exc})", redis_url, pg_url
    return None, redis_url, pg_url


def with_db(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def create_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # noqa: BLE001
        print(f"note: could not drop database {name}: {exc}", file=sys.stderr)
