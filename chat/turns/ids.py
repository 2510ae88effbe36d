"""Message ids taken before their rows are written, so a turn's first frames can name the
new rows (their DOM ids are `m<id>`) while the rows are still being written.

Without them the first text waits for the turn's INSERTs: ~1 ms at 10 streams, and at 200
streams as long as the queue of the one database thread (bench/README.md, issue 12). An id
taken and never used (the write failed, the process died) is a gap in the sequence, nothing
more: ids only order, they never count.
"""

from django.db import transaction

from chat import sql
from chat.models import Message


def reserve(count: int) -> tuple[int, ...]:
    """`count` new message ids, in increasing order; () where the database cannot hand
    them out ahead (the turn then shows its rows once they are written, as before)."""
    vendor, table = sql.database().vendor, Message._meta.db_table
    if vendor == "postgresql":
        return _from_sequence(table, count)
    if vendor == "sqlite":
        return _from_sqlite_sequence(table, count)
    return ()


def _from_sequence(table: str, count: int) -> tuple[int, ...]:
    """nextval is never rolled back, so another process can never be handed the same id."""
    rows = sql.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        [table, count],
    )[1]
    return tuple(sorted(row[0] for row in rows))


def _from_sqlite_sequence(table: str, count: int) -> tuple[int, ...]:
    """The table is AUTOINCREMENT (Django's SQLite AutoField): SQLite never hands out an id
    at or below its sqlite_sequence entry, so moving the entry up reserves the ids below."""
    with transaction.atomic():
        rows = sql.execute(
            "UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s RETURNING seq",
            [count, table],
        )[1]
        if rows:
            top = rows[0][0]
        else:  # no row was ever inserted: the entry is made by the first INSERT
            top = sql.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}", [])[1][0][0] + count
            sql.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, top])
    return tuple(range(top - count + 1, top + 1))
