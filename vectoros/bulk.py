"""Bulk inserts with PostgreSQL's COPY: the one writer for the thousands-of-rows paths (imports, the demo
seeder, forecast parts, scores), several times faster than INSERT and bulk_create.

Rows go through psycopg 3's `cursor.copy()` with its own adapters (JSON fields as `Jsonb`), and columns
a caller does not give get the model field's default, so a column added to a model later keeps working.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Field, JSONField, Model
from django.utils import timezone
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.json import Jsonb

# Decimals, dates and UUIDs inside JSON values are written as Django's JSONField would write them. One
# encoder for all rows: `json.dumps(cls=...)` would build a new one per value, ten times slower.
_ENCODER = DjangoJSONEncoder()


def _dumps(value: Any) -> str:
    # Ids are most of the JSON a bulk write carries (history rows); the encoder's general path costs
    # a microsecond each for them.
    return str(value) if type(value) is int else _ENCODER.encode(value)


def copy_rows(
    model: type[Model],
    fields: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    with_ids: bool = False,
    now: datetime | None = None,
) -> list[int]:
    """COPY `rows` (values in the order of `fields`, attribute names such as "deal_id") into `model`'s table.

    Every other concrete field gets its default (callables are called per row, `auto_now` fields get
    `now`). With `with_ids`, primary keys are drawn from the table's sequence first and returned in
    row order, so the caller can refer to the new rows; `rows` must then be a sequence.
    """
    meta = model._meta
    by_name = {f.attname: f for f in meta.concrete_fields}
    given: list[Field] = [by_name[name] for name in fields]
    rest = [f for f in meta.concrete_fields if not f.primary_key and f.attname not in fields]
    moment = now or timezone.now()
    defaults = [_default_of(f, moment) for f in rest]
    json_at = [i for i, f in enumerate(given) if isinstance(f, JSONField)]

    ids: list[int] = []
    if with_ids:
        rows = list(rows)
        ids = _reserve_ids(model, len(rows))
    columns = [*([meta.pk.column] if with_ids else []), *(f.column for f in given), *(f.column for f in rest)]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(meta.db_table), sql.SQL(", ").join(sql.Identifier(str(c)) for c in columns)
    )
    connection.ensure_connection()
    # The queued writer sends data from a thread: the server digests one chunk while we format the next.
    with (
        connection.connection.cursor() as cursor,
        cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy,
    ):
        write_row = copy.write_row
        id_iter = iter(ids)
        for row in rows:
            values = [next(id_iter), *row] if with_ids else list(row)
            for i in json_at:
                if values[i + with_ids] is not None:
                    values[i + with_ids] = Jsonb(values[i + with_ids], dumps=_dumps)
            if defaults:
                values.extend([default() for default in defaults])
            write_row(values)
    return ids


def _default_of(field: Field, now: datetime) -> Callable[[], Any]:
    """A zero-argument function giving the field's value for one new row."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda: now
    if field.default is uuid.uuid4:
        return _random_uuid
    if field.has_default() and callable(field.default):
        make = field.default
        if isinstance(field, JSONField):
            return lambda: _jsonb(make())
        return make
    value = field.get_default()
    if isinstance(field, JSONField):
        value = _jsonb(value)
    return lambda: value


def _jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value, dumps=_dumps)


_UUID_POOL: list[uuid.UUID] = []


def _random_uuid() -> uuid.UUID:
    """uuid4, drawing the randomness for a thousand at a time (one call to the OS instead of one per row)."""
    if not _UUID_POOL:
        pool = os.urandom(16 * 1000)
        _UUID_POOL.extend(uuid.UUID(bytes=pool[i : i + 16], version=4) for i in range(0, len(pool), 16))
    return _UUID_POOL.pop()


def _reserve_ids(model: type[Model], n: int) -> list[int]:
    """`n` fresh primary keys from the table's own sequence, in order."""
    if n == 0:
        return []
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, n],
        )
        return [pk for (pk,) in cursor.fetchall()]
