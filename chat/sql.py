"""Statements without the ORM's query compiler, for the turn services (chat/turns/plan.py,
prior.py, start.py, save.py).

Turns' services run in the server's one database thread, which holds the GIL against the
event loop. Building and compiling a queryset costs 0.2-0.8 ms of CPU a statement, sending
one 0.04 ms (SQLite) to 0.09 ms (PostgreSQL), so the hot statements are written out: plain
SQL both backends take, through Django's cursor (%s placeholders, execute wrappers). Values
go through the fields' get_db_prep_save and pre_save and come back through the backends'
converters, as with the ORM: the rows are the ones it wrote (bench/dbcost.py measures it,
tests/test_services_queries.py checks it). No save() signals: nothing listens for them.
Every value is first made storable in its column (chat/storable.py): a value from upstream
the database would reject must not fail the write that saves an answer.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

from chat.storable import storable


def database() -> BaseDatabaseWrapper:
    # The connection itself: every attribute read through the `connection` proxy looks it up
    # again in an asgiref Local, ~4 µs a time, hundreds of times in an INSERT's loops.
    return connections[DEFAULT_DB_ALIAS]


def execute(sql: str, params: list[Any]) -> tuple[int, list[tuple[Any, ...]]]:
    """Rows changed, and rows returned."""
    with database().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount, cursor.fetchall() if cursor.description else []


def from_db(model: type[models.Model], name: str, value: Any) -> Any:
    """A column's value as the ORM reads it (SQLite's naive datetimes made aware, ...)."""
    return reader(model, (name,))((value,))[0]


def reader(model: type[models.Model], names: Sequence[str]) -> Callable[[Sequence[Any]], list]:
    """from_db for whole rows of these columns: each column's converters are looked up once,
    not once a value (~40 µs a lookup; the price table is read before every ledger row)."""
    db, table = database(), model._meta.db_table
    steps = []
    for name in names:
        field = model._meta.get_field(name)
        column = field.get_col(table)
        steps.append((column, db.ops.get_db_converters(column) + field.get_db_converters(db)))

    def read(row: Sequence[Any]) -> list:
        values = []
        for value, (column, converters) in zip(row, steps, strict=True):
            for convert in converters:
                value = convert(value, column, db)
            values.append(value)
        return values

    return read


def update(model: type[models.Model], values: dict[str, Any], where: str, params: list) -> int:
    """UPDATE the rows `where` picks to `values` (by field name); how many changed."""
    db, fields = database(), [model._meta.get_field(name) for name in values]
    columns = ", ".join(f"{db.ops.quote_name(f.column)} = %s" for f in fields)
    prepared = [
        f.get_db_prep_save(storable(f, v), db) for f, v in zip(fields, values.values(), strict=True)
    ]
    sql = f"UPDATE {model._meta.db_table} SET {columns} WHERE {where}"
    return execute(sql, prepared + params)[0]


def insert(*objs: models.Model) -> None:
    """INSERT new rows of one model in one statement and set their ids, as bulk_create() does
    (every column sent, auto_now ones filled by pre_save). Rows that come with their ids
    (taken ahead: chat/turns/ids.py) are written with them; then all of them must."""
    db, meta = database(), objs[0]._meta
    if not db.features.can_return_rows_from_bulk_insert:  # SQLite before 3.35
        for obj in objs:
            obj.save(force_insert=True)
        return
    given = objs[0].pk is not None
    assert all((obj.pk is not None) == given for obj in objs), "all rows with ids, or none"
    fields = [f for f in meta.concrete_fields if given or not f.primary_key]
    columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
    rows = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(objs))
    params = [
        f.get_db_prep_save(storable(f, f.pre_save(obj, True)), db) for obj in objs for f in fields
    ]
    sql = f"INSERT INTO {meta.db_table} ({columns}) VALUES {rows} RETURNING {meta.pk.column}"
    # Ids grow in the order of the VALUES rows; the order RETURNING gives them in is unspecified.
    for obj, (pk,) in zip(objs, sorted(execute(sql, params)[1]), strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = db.alias
