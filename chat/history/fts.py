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

# (fts table, source table, column)
_SOURCES = ((MESSAGE_FTS, "chat_message", "text"), (TITLE_FTS, "chat_conversation", "title"))


def message_vector() -> SearchVector:
    return SearchVector("text", config=CONFIG)


def stored_message_vector() -> RawSQL:
    """The stored column (PostgreSQL), for queries on chat_message."""
    return RawSQL('"chat_message"."search_vector"', [], output_field=SearchVectorField())


def title_vector() -> SearchVector:
    return SearchVector("title", config=CONFIG)


def _sqlite_statements(fts: str, table: str, column: str) -> list[str]:
    insert = f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});"
    remove = f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column});"
    return [
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN {remove} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF {column} ON {table} "
        f"BEGIN {remove} {insert} END",
    ]


def ensure_sqlite_fts(connection) -> None:
    """Create the FTS5 tables and triggers that are missing; rebuild an index that lost one."""
    with connection.cursor() as cursor:
        existing = {
            row[0]
            for row in cursor.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"
            ).fetchall()
        }
        for fts, table, column in _SOURCES:
            if table not in existing:
                continue
            complete = {fts, f"{fts}_ai", f"{fts}_ad", f"{fts}_au"} <= existing
            if fts not in existing:
                cursor.execute(
                    f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', "
                    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
                )
            for statement in _sqlite_statements(fts, table, column):
                cursor.execute(statement)
            if not complete:
                # Rows written while a trigger was missing: index everything again.
                cursor.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


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
            for fts, _table, _column in _SOURCES:
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
