"""Coalesced background jobs on django-q2.

`enqueue_coalesced(key, func, ids)` runs `func(*head_args, ids)` once in the worker for every burst
of calls with the same key: the first call inserts a PendingJob row and queues a task (after the
transaction commits); later calls before the task starts only add their ids to that row. The task
claims the row with a DELETE ... RETURNING, so a change arriving while it runs queues one more run.

Two things keep work from being lost or stuck. A run that fails puts its ids back (without queueing a
task, so a persistent failure does not loop). And a pending row older than STALE_AFTER whose task never
ran (it failed, or was lost) gets a fresh task with the next change that touches it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import connection, transaction
from django.utils.module_loading import import_string
from django_q.tasks import async_task

STALE_AFTER = "10 minutes"


def enqueue_coalesced(*, key: str, func: str, head_args: Sequence[object] = (), ids: Sequence[int] = ()) -> None:
    """Schedule `func(*head_args, ids)` after the current transaction commits, merged with pending calls."""

    def _enqueue() -> None:
        if _merge_pending(key=key, func=func, head_args=head_args, ids=ids, refresh_stale=True):
            async_task("tenancy.jobs.run_pending", key, task_name=key[:100])

    transaction.on_commit(_enqueue)


def _merge_pending(
    *, key: str, func: str, head_args: Sequence[object], ids: Sequence[int], refresh_stale: bool
) -> bool:
    """Insert the pending row or merge `ids` into it; True when it needs a (new) task.

    That is when the row is new, or, with `refresh_stale`, when it had waited past STALE_AFTER (its
    created_at is then reset, so only this call queues the task).
    """
    with connection.cursor() as cursor:
        stale = False
        if refresh_stale:
            cursor.execute(
                f"""UPDATE tenancy_pendingjob SET created_at = now()
                    WHERE key = %s AND created_at < now() - interval '{STALE_AFTER}' RETURNING 1""",
                [key],
            )
            stale = cursor.fetchone() is not None
        cursor.execute(
            """
            INSERT INTO tenancy_pendingjob (key, func, args, created_at)
            VALUES (%s, %s, %s::jsonb, now())
            ON CONFLICT (key) DO UPDATE
                SET args = jsonb_build_array(
                    tenancy_pendingjob.args -> 0,
                    (tenancy_pendingjob.args -> 1) || (EXCLUDED.args -> 1))
            RETURNING (xmax = 0) AS inserted
            """,
            [key, func, _json_args(head_args, ids)],
        )
        inserted = bool(cursor.fetchone()[0])
    return inserted or stale


def _json_args(head_args: Sequence[object], ids: Sequence[int]) -> str:
    return json.dumps([list(head_args), sorted({int(i) for i in ids})])


def run_pending(key: str) -> None:
    """Worker side: claim the pending row for `key` and run its function once."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tenancy_pendingjob WHERE key = %s RETURNING func, args", [key])
        row = cursor.fetchone()
    if row is None:
        return  # already claimed by another run
    func_path, args = row
    if isinstance(args, str):
        args = json.loads(args)
    head_args, ids = args
    try:
        import_string(func_path)(*head_args, sorted(set(ids)))
    except Exception:
        # Put the work back for a later run (see the module docstring), then let django-q record the failure.
        _merge_pending(key=key, func=func_path, head_args=head_args, ids=ids, refresh_stale=False)
        raise
