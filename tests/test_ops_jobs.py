"""Two queues and crash recovery of coalesced jobs: a run whose worker dies is put back, a lost task is resent."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import OrmQ

from tenancy.jobs import enqueue_coalesced, queue_for, requeue_abandoned, run_pending
from tenancy.models import PendingJob

KEY = "tests.test_ops_jobs.record:7"
FUNC = "tests.test_ops_jobs.record"
calls: list[tuple[int, list[int]]] = []


def record(workspace_id: int, ids: list[int]) -> None:
    calls.append((workspace_id, ids))


@pytest.fixture(autouse=True)
def fresh_calls():
    calls.clear()


def _enqueue(capture, ids: list[int], func: str = FUNC, key: str = KEY) -> None:
    with capture(execute=True):
        enqueue_coalesced(key=key, func=func, head_args=[7], ids=ids)


def _other_connection() -> psycopg.Connection:
    """A second session on the test database, standing in for a worker process."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)


@pytest.mark.django_db
def test_bulk_handlers_go_to_the_bulk_queue_and_the_rest_to_the_interactive_one(django_capture_on_commit_callbacks):
    assert queue_for("similarity.tasks.on_deals_changed") == "bulk"
    assert queue_for("forecasting.tasks.on_deals_changed") is None
    _enqueue(django_capture_on_commit_callbacks, [1], func="similarity.tasks.on_deals_changed", key="similarity:7")
    _enqueue(django_capture_on_commit_callbacks, [1], func="forecasting.tasks.on_deals_changed", key="forecast:7")
    assert sorted(OrmQ.objects.values_list("key", flat=True)) == ["bulk", "vectoros"]


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_died_is_put_back_and_queued_again(django_capture_on_commit_callbacks):
    _enqueue(django_capture_on_commit_callbacks, [1, 2])
    worker = _other_connection()
    # The worker claims the row exactly as run_pending does, then "dies" mid-run (its connection drops).
    claim = PendingJob.objects.get(key=KEY)
    worker.execute(
        "UPDATE tenancy_pendingjob SET key = key || '#run:' || id::text WHERE id = %s "
        "RETURNING pg_advisory_lock(%s, id::int)",
        [claim.id, 0x564F53],
    )
    _enqueue(django_capture_on_commit_callbacks, [3])  # a change while it runs: a pending row of its own
    assert requeue_abandoned() == {"recovered": 0, "resent": 0}  # alive: left alone
    tasks_before = OrmQ.objects.count()
    worker.close()
    assert requeue_abandoned()["recovered"] == 1
    (pending,) = PendingJob.objects.all()
    assert (pending.key, sorted(pending.args[1])) == (KEY, [1, 2, 3])
    assert OrmQ.objects.count() == tasks_before  # the pending row already had its task
    run_pending(KEY)
    assert calls == [(7, [1, 2, 3])]
    assert not PendingJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_dead_run_with_no_pending_row_gets_a_new_task(django_capture_on_commit_callbacks):
    _enqueue(django_capture_on_commit_callbacks, [4])
    OrmQ.objects.all().delete()  # the task was taken by the worker that dies
    worker = _other_connection()
    worker.execute(
        "UPDATE tenancy_pendingjob SET key = key || '#run:' || id::text RETURNING pg_advisory_lock(%s, id::int)",
        [0x564F53],
    )
    worker.close()
    assert requeue_abandoned()["recovered"] == 1
    assert OrmQ.objects.count() == 1
    run_pending(KEY)
    assert calls == [(7, [4])]


@pytest.mark.django_db
def test_a_row_waiting_past_a_minute_has_its_task_resent_and_a_duplicate_task_does_nothing(
    django_capture_on_commit_callbacks,
):
    _enqueue(django_capture_on_commit_callbacks, [5])
    assert requeue_abandoned() == {"recovered": 0, "resent": 0}
    PendingJob.objects.update(created_at=timezone.now() - timedelta(seconds=90))  # its task was lost with Redis
    assert requeue_abandoned() == {"recovered": 0, "resent": 1}
    assert OrmQ.objects.count() == 2
    run_pending(KEY)
    run_pending(KEY)
    assert calls == [(7, [5])]


@pytest.mark.django_db
def test_interactive_work_whose_task_was_lost_waits_seconds_bulk_work_a_minute(django_capture_on_commit_callbacks):
    """A save's re-forecast row whose task failed with the database (or was lost) is sent again after 10 s; a bulk
    row, whose task may simply be waiting behind a backfill, after a minute."""
    bulk_key = "similarity.tasks.on_deals_changed:7"
    assert queue_for("similarity.tasks.on_deals_changed", bulk_key) is not None
    _enqueue(django_capture_on_commit_callbacks, [5])
    _enqueue(django_capture_on_commit_callbacks, [6], func="similarity.tasks.on_deals_changed", key=bulk_key)
    OrmQ.objects.all().delete()  # both tasks gone
    PendingJob.objects.update(created_at=timezone.now() - timedelta(seconds=15))
    assert requeue_abandoned() == {"recovered": 0, "resent": 1}
    assert requeue_abandoned() == {"recovered": 0, "resent": 0}  # sent once, not at every sweep
    run_pending(KEY)
    assert calls == [(7, [5])]
    PendingJob.objects.filter(key=bulk_key).update(created_at=timezone.now() - timedelta(seconds=90))
    assert requeue_abandoned() == {"recovered": 0, "resent": 1}


@pytest.mark.django_db
def test_a_broker_outage_does_not_fail_the_save(django_capture_on_commit_callbacks, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is restarting")

    monkeypatch.setattr("tenancy.jobs.async_task", broker_down)
    _enqueue(django_capture_on_commit_callbacks, [6])
    assert PendingJob.objects.get(key=KEY).args == [[7], [6]]  # kept: requeue_abandoned sends it later


@pytest.mark.django_db
def test_an_imports_changed_deals_go_to_the_bulk_queue_apart_from_a_users_save(
    django_capture_on_commit_callbacks, settings
):
    """A forecast after a user's save stays interactive even while an import's thousands of deals wait: the
    import's work has its own pending rows (never merged with the save's) on the bulk queue."""
    from crm.services import deals_changed

    settings.DEAL_CHANGE_HANDLERS = ["forecasting.tasks.on_deals_changed", "scoring.tasks.on_deals_changed"]
    with django_capture_on_commit_callbacks(execute=True):
        deals_changed(workspace_id=7, deal_ids=range(1, 3001), bulk=True)
    with django_capture_on_commit_callbacks(execute=True):
        deals_changed(workspace_id=7, deal_ids=[42])
    rows = dict(PendingJob.objects.values_list("key", "args"))
    assert sorted(rows) == [
        "forecasting.tasks.on_deals_changed:7",
        "forecasting.tasks.on_deals_changed:7:bulk",
        "scoring.tasks.on_deals_changed:7",
        "scoring.tasks.on_deals_changed:7:bulk",
    ]
    assert rows["scoring.tasks.on_deals_changed:7"][1] == [42]
    assert len(rows["scoring.tasks.on_deals_changed:7:bulk"][1]) == 3000
    assert sorted(OrmQ.objects.values_list("key", flat=True)) == ["bulk", "bulk", "vectoros", "vectoros"]


SLOW_KEY = "tests.test_ops_jobs.slow_record:7"
running: list[int] = []
overlaps: list[list[int]] = []


def slow_record(workspace_id: int, ids: list[int]) -> None:
    """A handler that takes a while (a re-forecast) and notes whether another run of it was going on."""
    import time

    if running:
        overlaps.append(list(ids))
    running.append(1)
    time.sleep(0.8)
    running.pop()
    calls.append((workspace_id, ids))


@pytest.mark.django_db(transaction=True)
def test_an_interactive_key_runs_once_at_a_time_and_its_holder_runs_what_arrived_meanwhile(
    django_capture_on_commit_callbacks,
):
    # Two workers re-forecasting one workspace at once would burn two cores; the second task leaves it to the first.
    import threading
    import time

    from django.db import connections

    overlaps.clear()
    _enqueue(django_capture_on_commit_callbacks, [1], func="tests.test_ops_jobs.slow_record", key=SLOW_KEY)
    OrmQ.objects.all().delete()

    def worker() -> None:
        try:
            run_pending(SLOW_KEY)
        finally:
            connections.close_all()

    first = threading.Thread(target=worker)
    first.start()
    time.sleep(0.3)  # the first run is under way: a save arrives, and its task reaches another worker
    _enqueue(django_capture_on_commit_callbacks, [2], func="tests.test_ops_jobs.slow_record", key=SLOW_KEY)
    started = time.monotonic()
    run_pending(SLOW_KEY)
    assert time.monotonic() - started < 0.5, "the second task must not wait for, or repeat, the running one"
    first.join(timeout=10)

    assert calls == [(7, [1]), (7, [2])]  # the save that came during the run was run next, by the first worker
    assert overlaps == []
    assert not PendingJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_bulk_keys_still_run_side_by_side(django_capture_on_commit_callbacks):
    # A backfill's chunks use every bulk worker: no key lock for them (another worker holding one changes nothing).
    other_worker = _other_connection()
    other_worker.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [0x564F54, KEY + ":bulk"])
    try:
        _enqueue(django_capture_on_commit_callbacks, [3], key=KEY + ":bulk")
        run_pending(KEY + ":bulk")
    finally:
        other_worker.close()
    assert calls == [(7, [3])]
