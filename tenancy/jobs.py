"""Coalesced background jobs on django-q2.

`enqueue_coalesced(key, func, ids)` runs `func(*head_args, ids)` once in the worker for every burst
of calls with the same key: the first call inserts a PendingJob row and queues a task (after the
transaction commits); later calls before the task starts only add their ids to that row. The task
claims the row (renaming it, see below), so a change arriving while it runs queues one more run.

Three things keep work from being lost or stuck. A run that fails puts its ids back (without queueing a
task at once, so a persistent failure does not spin; it is tried again after RESEND_AFTER, or
INTERACTIVE_RESEND_AFTER for interactive work, see below).
A pending row older than STALE_AFTER whose task never ran (it failed, or was lost) gets a fresh task
with the next change that touches it. And the worker
supervisor (`manage.py run --role worker`) calls `requeue_abandoned()` every few seconds: a run whose
worker died (SIGKILL, a lost machine) has its ids put back, and a pending row whose task was lost with
a broker or a worker gets a new task. The claim is a row renamed to `<key>#run:<id>` and held by a
session advisory lock of the worker's own connection, so a lock that can be taken means a dead runner.

Tasks go to one of two django-q2 clusters (`queue_for`): the default one is the interactive queue,
settings.BULK_TASKS go to settings.Q_BULK_CLUSTER, which has workers of its own.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Sequence

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils.module_loading import import_string
from django_q.tasks import async_task

logger = logging.getLogger(__name__)

STALE_AFTER = "10 minutes"
# A pending row older than this gets its task sent again by `requeue_abandoned` (a duplicate task finds nothing).
RESEND_AFTER = "60 seconds"
# ... and an interactive one (a save's re-forecast, rescoring, alerts) sooner: its task can be lost without a
# broker outage, consumed by a run that failed while the database restarted, and every save until the resend only
# adds its ids to the row (the drill: re-forecasts took 12-20 s for a minute after a PostgreSQL restart).
INTERACTIVE_RESEND_AFTER = "10 seconds"
RUNNING = "#run:"
# First half of the two-int advisory lock of a run ("VOS"): keeps these locks apart from any other user's.
LOCK_CLASS = 0x564F53
# ... and of the lock an interactive key's runs hold ("VOT", with the key's hash): one run of a key at a time.
KEY_LOCK_CLASS = 0x564F54
KEY_DRAIN_SECONDS = 10.0  # how long one worker keeps running a busy key's new rows before handing them on
DB_WAIT_SECONDS = 30.0  # how long a task taken while the database is unreachable waits for it before failing


# A coalesced key ending so is bulk work whatever its function (an import's or a seed's thousands of changed deals
# rescored and re-forecast): it never shares a run, or a queue, with the deal a user just saved.
BULK_KEY_SUFFIX = ":bulk"


def queue_for(func: str, key: str = "") -> str | None:
    """The django-q2 cluster for a task function: the bulk one for settings.BULK_TASKS or a bulk key, else None
    (interactive)."""
    return settings.Q_BULK_CLUSTER if func in settings.BULK_TASKS or key.endswith(BULK_KEY_SUFFIX) else None


def _send(key: str, func: str) -> None:
    """Queue the task that runs `key`. A broker outage is logged, not raised: the row is safe in the database and
    `requeue_abandoned` sends its task again, so a deal save never fails because Redis restarts."""
    try:
        async_task("tenancy.jobs.run_pending", key, task_name=key[:100], cluster=queue_for(func, key))
    except Exception:
        logger.warning("could not queue %s; it is sent again once the broker answers", key, exc_info=True)


def enqueue_coalesced(*, key: str, func: str, head_args: Sequence[object] = (), ids: Sequence[int] = ()) -> None:
    """Schedule `func(*head_args, ids)` after the current transaction commits, merged with pending calls."""

    def _enqueue() -> None:
        if _merge_pending(key=key, func=func, head_args=head_args, ids=ids, refresh_stale=True):
            _send(key, func)

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
    """Worker side: run the pending row of `key`; for an interactive key, one run at a time across all workers.

    Two workers re-forecasting the same workspace at once would spend two cores on results of which the older is
    replaced at once. So an interactive key's runs hold a key lock: a task that finds it taken returns, and the
    holder, when its run ends, runs whatever became pending meanwhile (all of it merged into one row) for up to
    KEY_DRAIN_SECONDS, then leaves the rest to a fresh task. Bulk keys (a backfill's chunks) run side by side.
    """
    _wait_for_database()
    if queue_for(key.split(":", 1)[0], key) is not None:
        _run_one(key)
        return
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [KEY_LOCK_CLASS, key])
            if not cursor.fetchone()[0]:
                return  # another worker runs this key; it runs our row when its run ends (see below)
        deadline = time.monotonic() + KEY_DRAIN_SECONDS
        try:
            while _run_one(key) and time.monotonic() < deadline:
                pass
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [KEY_LOCK_CLASS, key])
        # A row that arrived while the lock was held may have had its task turned away: run it (or hand it on).
        with connection.cursor() as cursor:
            cursor.execute("SELECT func FROM tenancy_pendingjob WHERE key = %s", [key])
            row = cursor.fetchone()
        if row is None:
            return
        if time.monotonic() >= deadline:
            _send(key, row[0])
            return


def _wait_for_database() -> None:
    """Return once the database answers, or raise its error after DB_WAIT_SECONDS.

    A task taken from the broker (Redis) while PostgreSQL restarts would fail before it claims its row, and the saves
    that follow only add their ids to that row: their re-forecast would wait for the resend (INTERACTIVE_RESEND_AFTER).
    Waiting here runs it as soon as the database is back. No query of its own: a kept connection gets the health
    check it would get at its first query anyway (CONN_HEALTH_CHECKS; django-q resets it before each task), which
    replaces one the restart cut, and a new connection is proof enough.
    """
    deadline = time.monotonic() + DB_WAIT_SECONDS
    for attempt in itertools.count():
        try:
            connection.close_if_health_check_failed()
            connection.ensure_connection()
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() >= deadline:
                raise
            if attempt == 0:
                logger.info("waiting up to %.0f s for the database to run a queued task", DB_WAIT_SECONDS)
        connection.close()
        time.sleep(0.25)


def _run_one(key: str) -> bool:
    """Claim the pending row for `key` and run its function once; False when there was none to claim.

    The claim renames the row and takes an advisory lock on this connection in the same statement; the row is
    deleted when the run ends, and put back under `key` when it fails (or by `requeue_abandoned` when the worker
    dies mid-run).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE tenancy_pendingjob SET key = key || '{RUNNING}' || id::text
                WHERE key = %s
                RETURNING id, func, args, pg_advisory_lock({LOCK_CLASS}, (id %% 2147483647)::int)""",
            [key],
        )
        row = cursor.fetchone()
    if row is None:
        return False  # already claimed by another run
    job_id, func_path, args, _ = row
    if isinstance(args, str):
        args = json.loads(args)
    head_args, ids = args
    try:
        import_string(func_path)(*head_args, sorted(set(ids)))
    except Exception:
        # Put the work back for a later run (see the module docstring), then let django-q record the failure.
        _release(job_id, key=key, func=func_path, head_args=head_args, ids=ids)
        raise
    _release(job_id)
    return True


def _release(job_id: int, *, key: str = "", func: str = "", head_args: Sequence[object] = (), ids=()) -> bool:
    """End a run: delete its claimed row (merging its ids back under `key` first when given) and drop the lock.

    True when the merge made a new pending row (it then needs a task).
    """
    inserted = False
    with transaction.atomic():
        if key:
            inserted = _merge_pending(key=key, func=func, head_args=head_args, ids=ids, refresh_stale=False)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM tenancy_pendingjob WHERE id = %s", [job_id])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, (%s %% 2147483647)::int)", [LOCK_CLASS, job_id])
    return inserted


def requeue_abandoned() -> dict[str, int]:
    """Put back the ids of runs whose worker died, and resend the tasks of rows waiting past RESEND_AFTER.

    Safe to call from any number of processes at once: a dead run is taken over with the same advisory lock a
    live one holds, and a duplicate task finds its row already claimed.
    """
    recovered = resent = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, key, func, args FROM tenancy_pendingjob WHERE key LIKE %s", [f"%{RUNNING}%"])
        running = cursor.fetchall()
    for job_id, claimed_key, func, args in running:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, (%s %% 2147483647)::int)", [LOCK_CLASS, job_id])
            if not cursor.fetchone()[0]:
                continue  # its worker is alive and still running it
        if isinstance(args, str):
            args = json.loads(args)
        key = claimed_key.split(RUNNING)[0]
        logger.warning("a run of %s died with its worker; its %s id(s) are queued again", key, len(args[1]))
        if _release(job_id, key=key, func=func, head_args=args[0], ids=args[1]):
            _send(key, func)
        recovered += 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT key, func, created_at < now() - interval '{RESEND_AFTER}' FROM tenancy_pendingjob
                WHERE key NOT LIKE %s AND created_at < now() - interval '{INTERACTIVE_RESEND_AFTER}'""",
            [f"%{RUNNING}%"],
        )
        due = [key for key, func, old in cursor.fetchall() if old or queue_for(func, key) is None]
        waiting: list[tuple[str, str]] = []
        if due:  # claimed by setting created_at, so that one process only resends each row
            cursor.execute(
                f"""UPDATE tenancy_pendingjob SET created_at = now()
                    WHERE key = ANY(%s) AND created_at < now() - interval '{INTERACTIVE_RESEND_AFTER}'
                    RETURNING key, func""",
                [due],
            )
            waiting = cursor.fetchall()
    for key, func in waiting:
        _send(key, func)
        resent += 1
    return {"recovered": recovered, "resent": resent}
