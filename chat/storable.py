"""Values made storable in their column, before any write of the turn services (chat/sql.py).

Everything a turn stores came, in the end, from an upstream or a person, and a value the
database rejects fails the whole write: the answer stays `streaming` and its text is lost
(issue 13: a negative token count broke a CHECK constraint; on PostgreSQL a model name over
200 characters, and a NUL character in a delta or in a person's message). So, from the
model's own field definitions: text loses NUL characters (PostgreSQL's text and jsonb cannot
hold them), short strings are cut to their max_length, integers are clamped to their
column's range, JSON keeps only finite numbers. One place, generally, for every column.
"""

import math
from typing import Any

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations

NUL = "\x00"
# Every backend's integer columns are at least this wide; PositiveIntegerField is checked >= 0.
_RANGES = BaseDatabaseOperations.integer_field_ranges


def storable(field: models.Field, value: Any) -> Any:
    """`value` as `field`'s column takes it (unchanged when it already fits)."""
    if value is None:
        return None
    if isinstance(value, str):
        if NUL in value:
            value = value.replace(NUL, "")
        limit = getattr(field, "max_length", None)
        return value[:limit] if limit and len(value) > limit else value
    if isinstance(field, models.JSONField):
        return json_value(value)
    if isinstance(field, models.IntegerField) and type(value) is int:
        low, high = _RANGES.get(field.get_internal_type(), (None, None))
        if low is not None and value < low:
            return low
        if high is not None and value > high:
            return high
    return value


def json_value(value: Any) -> Any:
    """A JSON value without NUL characters (keys too) or non-finite numbers."""
    if isinstance(value, str):
        return value.replace(NUL, "") if NUL in value else value
    if isinstance(value, dict):
        return {json_value(k) if isinstance(k, str) else k: json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def text(value: str) -> str:
    """A person's or the model's text without NUL characters (nothing shows them anyway)."""
    return value.replace(NUL, "") if NUL in value else value
