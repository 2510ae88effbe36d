"""The full-text indexes that search reads: SQLite FTS5 tables, or PostgreSQL GIN indexes.

SQLite: two external-content FTS5 tables (message text, conversation titles) kept in sync by
triggers, so every write path (the ORM, chat/sql.py's plain SQL, bulk inserts) updates them.
Django rebuilds a SQLite table to alter it (create, copy, drop, rename), and dropping a table
drops its triggers: so `ensure_sqlite_fts` runs after every `migrate` (post_migrate) and
recreates whatever is missing, rebuilding the index when a trigger had been lost.

PostgreSQL: message text has a stored generated `tsvector` column (`search_vector`, not a
model field: Django never writes or reads it, PostgreSQL keeps it) with a GIN index, so ranking
a common word reads stored vectors instead of parsing every matching text again; titles are
short and use a GIN index on the `to_tsvector` expression the title search uses.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db.models.expressions import RawSQL

CONFIG = "english"  # the text search configuration (stemming) on PostgreSQL
MESSAGE_FTS = "chat_message_fts"
TITLE_FTS = "chat_conversation_fts"

# (fts table, source table, column, the SQL condition on a row `{row}` for it to be indexed)
# Message text is indexed once the message has ended: a streaming answer's text changes at
# every checkpoint, and indexing it each time (a 'delete' of the old text, an insert of the
# new: tokenising both) was half of a checkpoint's CPU (bench/README.md, issue 12). So an
# answer is found by search once it is done; a live one is not yet.
_LIVE = "('queued', 'streaming')"  # chat.models.Message.LIVE_STATUSES, as SQL
_SOURCES = (
    (MESSAGE_FTS, "chat_message", "text", "{row}.status NOT IN " + _LIVE),
    (TITLE_FTS, "chat_conversation", "title", ""),
)
# On PostgreSQL, the same rule for the stored vector (NULL while live: never matched).
_PG_VECTOR = (
    f"CASE WHEN status IN {_LIVE} THEN NULL "
    f"ELSE to_tsvector('{CONFIG}'::regconfig, COALESCE(text, '')) END"
)
# Marks this version of the message triggers (a trigger of the old, unconditional kind has
# none, and is replaced by ensure_sqlite_fts with the index caught up).
_VERSION = "/* indexed once ended */"


def message_vector() -> SearchVector:
    return SearchVector("text", config=CONFIG)


def stored_message_vector() -> RawSQL:
    """The stored column (PostgreSQL), for queries on chat_message."""
    return RawSQL('"chat_message"."search_vector"', [], output_field=SearchVectorField())


def title_vector() -> SearchVector:
    return SearchVector("title", config=CONFIG)


def _sqlite_statements(fts: str, table: str, column: str, indexed: str) -> list[str]:
    """The three triggers that keep `fts` in step with `table`: a row counts while
    `indexed` (SQL on it; empty: always) holds, so an UPDATE takes out what was indexed
    and puts in what now is (external-content FTS5 must be told the exact old text)."""

    def when(row: str) -> str:
        return f" AND {indexed.format(row=row)}" if indexed else ""

    insert = f"INSERT INTO {fts}(rowid, {column}) SELECT new.id, new.{column} WHERE 1{when('new')};"
    remove = (
        f"INSERT INTO {fts}({fts}, rowid, {column}) "
        f"SELECT 'delete', old.id, old.{column} WHERE 1{when('old')};"
    )
    watched = f"{column}, status" if indexed else column
    mark = _VERSION if indexed else ""
    return [
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN {insert} END{mark}",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN {remove} END{mark}",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF {watched} ON {table} "
        f"BEGIN {remove} {insert} END{mark}",
    ]


def ensure_sqlite_fts(connection) -> None:
    """Create the FTS5 tables and triggers that are missing or of an older kind; index
    everything again where one was (rows written meanwhile were not indexed)."""
    with connection.cursor() as cursor:
        existing = dict(
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'trigger')"
            ).fetchall()
        )
        for fts, table, column, indexed in _SOURCES:
            if table not in existing:
                continue
            triggers = [f"{fts}_ai", f"{fts}_ad", f"{fts}_au"]
            current = all(
                name in existing and (not indexed or _VERSION in (existing[name] or ""))
                for name in triggers
            )
            if fts not in existing:
                cursor.execute(
                    f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', "
                    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
                )
            if current:
                continue
            for name in triggers:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            for statement in _sqlite_statements(fts, table, column, indexed):
                cursor.execute(statement)
            _reindex(cursor, fts, table, column, indexed)


def _reindex(cursor, fts: str, table: str, column: str, indexed: str) -> None:
    """The index from scratch, of the rows that count (FTS5's 'rebuild' would take all)."""
    cursor.execute(f"INSERT INTO {fts}({fts}) VALUES ('delete-all')")
    where = f" WHERE {indexed.format(row=table)}" if indexed else ""
    cursor.execute(f"INSERT INTO {fts}(rowid, {column}) SELECT id, {column} FROM {table}{where}")


def create_indexes(apps, schema_editor) -> None:
    """Migration step: the search index for whichever database this is."""
    connection = schema_editor.connection
    if connection.vendor == "sqlite":
        ensure_sqlite_fts(connection)
    elif connection.vendor == "postgresql":
        Message = apps.get_model("chat", "Message")
        Conversation = apps.get_model("chat", "Conversation")
        schema_editor.add_index(Message, GinIndex(message_vector(), name="message_text_search"))
        schema_editor.add_index(
            Conversation, GinIndex(title_vector(), name="conversation_title_search")
        )


def drop_indexes(apps, schema_editor) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for fts, _table, _column, _indexed in _SOURCES:
                for suffix in ("_ai", "_ad", "_au"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {fts}{suffix}")
                cursor.execute(f"DROP TABLE IF EXISTS {fts}")
        elif connection.vendor == "postgresql":
            cursor.execute("DROP INDEX IF EXISTS message_text_search")
            cursor.execute("DROP INDEX IF EXISTS conversation_title_search")


def add_stored_vector(apps, schema_editor) -> None:
    """Migration step (PostgreSQL): the generated column and its index replace the
    expression index on message text."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE chat_message ADD COLUMN IF NOT EXISTS search_vector tsvector "
            f"GENERATED ALWAYS AS (to_tsvector('{CONFIG}'::regconfig, COALESCE(text, ''))) STORED"
        )
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS message_search_vector ON chat_message "
            "USING gin (search_vector)"
        )
        cursor.execute("DROP INDEX IF EXISTS message_text_search")


def vector_of_ended_messages(apps, schema_editor) -> None:
    """Migration step: message text indexed once the message has ended (see _SOURCES). On
    PostgreSQL the generated column is made again (its expression cannot be altered
    before PostgreSQL 17; the table is rewritten once); on SQLite the triggers are."""
    _replace_vector(schema_editor, _PG_VECTOR)


def vector_of_all_messages(apps, schema_editor) -> None:
    """Its reverse on PostgreSQL. (SQLite's triggers follow the code: post_migrate.)"""
    _replace_vector(schema_editor, f"to_tsvector('{CONFIG}'::regconfig, COALESCE(text, ''))")


def _replace_vector(schema_editor, expression: str) -> None:
    connection = schema_editor.connection
    if connection.vendor == "sqlite":
        ensure_sqlite_fts(connection)
        return
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS message_search_vector")
        cursor.execute("ALTER TABLE chat_message DROP COLUMN IF EXISTS search_vector")
        cursor.execute(
            "ALTER TABLE chat_message ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({expression}) STORED"
        )
        cursor.execute(
            "CREATE INDEX message_search_vector ON chat_message USING gin (search_vector)"
        )


def drop_stored_vector(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    Message = apps.get_model("chat", "Message")
    schema_editor.add_index(Message, GinIndex(message_vector(), name="message_text_search"))
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS message_search_vector")
        cursor.execute("ALTER TABLE chat_message DROP COLUMN IF EXISTS search_vector")


def after_migrate(sender, using: str = "default", **kwargs) -> None:
    """post_migrate: put back triggers that a table rebuild dropped (SQLite only)."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor == "sqlite":
        ensure_sqlite_fts(connection)
