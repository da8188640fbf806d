"""Coalesced background jobs: a burst is one run, failures keep their work, stuck rows get a new task."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from tenancy.jobs import enqueue_coalesced, run_pending
from tenancy.models import PendingJob

pytestmark = pytest.mark.django_db
KEY = "tests.test_jobs.record:7"
FUNC = "tests.test_jobs.record"
calls: list[tuple[int, list[int]]] = []


def record(workspace_id: int, ids: list[int]) -> None:
    calls.append((workspace_id, ids))


def explode(workspace_id: int, ids: list[int]) -> None:
    raise RuntimeError("the handler failed")


@pytest.fixture(autouse=True)
def fresh_calls():
    calls.clear()


def _enqueue(ids: list[int], func: str = FUNC, capture=None) -> None:
    with capture(execute=True):
        enqueue_coalesced(key=KEY, func=func, head_args=[7], ids=ids)


def test_a_burst_becomes_one_task_with_every_id(django_capture_on_commit_callbacks):
    for ids in ([3, 1], [2], [3]):
        _enqueue(ids, capture=django_capture_on_commit_callbacks)
    assert OrmQ.objects.count() == 1
    run_pending(KEY)
    assert calls == [(7, [1, 2, 3])]
    run_pending(KEY)  # a second task for the same key finds nothing left to do
    assert len(calls) == 1
    _enqueue([4], capture=django_capture_on_commit_callbacks)  # after the run: a new task
    assert OrmQ.objects.count() == 2


def test_a_failing_run_puts_its_ids_back_without_looping(django_capture_on_commit_callbacks):
    _enqueue([5, 6], func="tests.test_jobs.explode", capture=django_capture_on_commit_callbacks)
    with pytest.raises(RuntimeError):
        run_pending(KEY)
    pending = PendingJob.objects.get(key=KEY)
    assert pending.args == [[7], [5, 6]]
    assert OrmQ.objects.count() == 1  # no new task: a persistent failure must not spin


def test_a_row_whose_task_never_ran_gets_a_new_task_once_stale(django_capture_on_commit_callbacks):
    _enqueue([1], capture=django_capture_on_commit_callbacks)
    _enqueue([2], capture=django_capture_on_commit_callbacks)
    assert OrmQ.objects.count() == 1
    PendingJob.objects.filter(key=KEY).update(created_at=timezone.now() - timedelta(minutes=11))
    _enqueue([3], capture=django_capture_on_commit_callbacks)
    assert OrmQ.objects.count() == 2
    _enqueue([4], capture=django_capture_on_commit_callbacks)  # refreshed: not stale any more
    assert OrmQ.objects.count() == 2
    run_pending(KEY)
    assert calls == [(7, [1, 2, 3, 4])]
