"""Real worker processes (`manage.py run --role worker`) on the test database.

Interactive work is picked up while the bulk queue is busy; a worker killed with SIGKILL mid-run loses no
coalesced job; a PostgreSQL restart is survived by the workers and the web app without restarting them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
from django.conf import settings
from django.db import close_old_connections, connection
from django.test import Client
from django_q.tasks import async_task

from forecasting.models import ForecastRun
from tenancy.jobs import enqueue_coalesced, run_pending
from tests.factories import DealFactory
from vectoros import embedded_db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
REFORECAST = "forecasting.tasks.on_deals_changed"


def hold(folder: str, seconds: float) -> None:
    """A long bulk task (stands in for an embedding backfill)."""
    Path(folder, "hold-started").touch()
    time.sleep(seconds)
    Path(folder, "hold-finished").touch()


def slow_first_attempt(folder: str, ids: list[int]) -> None:
    """A coalesced handler whose first run hangs (its worker gets killed); the next run records its ids."""
    first = Path(folder, "attempt-1")
    if not first.exists():
        first.touch()
        time.sleep(120)
    record_ids(folder, ids)


def record_ids(folder: str, ids: list[int]) -> None:
    Path(folder, "done.json").write_text(json.dumps(ids))


def record_priority(folder: str, name: str) -> None:
    """Write the CPU priority (nice value) of the worker process that runs this task, and of its autogroup."""
    Path(folder, f"{name}.nice").write_text(str(os.nice(0)))
    autogroup = Path("/proc/self/autogroup")
    if autogroup.exists():
        Path(folder, f"{name}.autogroup").write_text(autogroup.read_text())


def record_frozen(folder: str, name: str) -> None:
    """Write how many objects the worker process running this task has taken out of garbage collection."""
    Path(folder, f"{name}.frozen").write_text(str(gc.get_freeze_count()))


def _wait_for(condition: Callable[[], object], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


@pytest.fixture
def start_worker() -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{quote(str(db['HOST']), safe='')}:{db['PORT']}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "vectoros.settings",
        "DEBUG": "true",  # a worker on a laptop: production settings would demand keys this test has no use for
        "Q_LOG_LEVEL": "ERROR",
    }
    started: list[subprocess.Popen[bytes]] = []

    def start(queue: str = "all") -> subprocess.Popen[bytes]:
        # Its own process group, so a SIGKILL takes all of it, like a crashed node.
        process = subprocess.Popen(  # noqa: S603 (our own python)
            [sys.executable, "manage.py", "run", "--role", "worker", "--queue", queue],
            cwd=settings.BASE_DIR,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            kill_node(process)  # nothing to finish gracefully here


def kill_node(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL every process of a worker node, like a crashed host: the supervisor's process group and the bulk
    cluster, which runs in a session of its own (tenancy/management/commands/run.py)."""
    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    for child in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    process.wait()


def _reforecast(workspace_id: int, deal_id: int) -> None:
    enqueue_coalesced(key=f"{REFORECAST}:{workspace_id}", func=REFORECAST, head_args=[workspace_id], ids=[deal_id])


def test_a_reforecast_is_picked_up_while_a_long_bulk_task_runs(personas, start_worker, tmp_path):
    deal = DealFactory(workspace=personas.workspace, amount=50_000)
    start_worker()
    async_task("tests.test_ops_workers.hold", str(tmp_path), 40, cluster=settings.Q_BULK_CLUSTER)
    _wait_for(lambda: (tmp_path / "hold-started").exists(), 60, "the bulk worker starts the long task")

    _reforecast(personas.workspace.id, deal.id)
    waited = _wait_for(
        lambda: ForecastRun.objects.filter(workspace=personas.workspace).exists(), 20, "the re-forecast is stored"
    )
    assert not (tmp_path / "hold-finished").exists(), "the re-forecast must not have waited for the bulk task"
    assert waited < 15


def test_bulk_work_runs_at_a_lower_cpu_priority_than_interactive_work(personas, start_worker, tmp_path):
    # An embedding backfill on the bulk queue takes only the CPU that pages and re-forecasts leave idle.
    start_worker()
    async_task("tests.test_ops_workers.record_priority", str(tmp_path), "bulk", cluster=settings.Q_BULK_CLUSTER)
    async_task("tests.test_ops_workers.record_priority", str(tmp_path), "interactive")
    _wait_for(lambda: len(list(tmp_path.glob("*.nice"))) == 2, 60, "both queues run their task")

    ours = os.nice(0)
    assert int((tmp_path / "interactive.nice").read_text()) == ours
    assert int((tmp_path / "bulk.nice").read_text()) == min(ours + settings.Q_BULK_NICE, 19)
    assert settings.Q_BULK_NICE > 0
    if (tmp_path / "bulk.autogroup").exists():
        # With autogroup scheduling, CPU is shared between sessions before nice counts: the bulk cluster runs in a
        # session of its own, at the lower priority, not in the interactive workers' session.
        bulk, interactive = (tmp_path / "bulk.autogroup").read_text(), (tmp_path / "interactive.autogroup").read_text()
        assert bulk.split()[0] != interactive.split()[0]
        assert bulk.split()[-1] == str(min(settings.Q_BULK_NICE, 19))


def test_workers_keep_start_up_objects_out_of_full_collections(personas, start_worker, tmp_path):
    # A full collection walks every long-lived object (~270 ms on the demo) and stops the worker's re-forecast
    # meanwhile; both queues' workers freeze what start-up and their first tasks' imports left alive.
    start_worker()
    async_task("tests.test_ops_workers.record_frozen", str(tmp_path), "bulk", cluster=settings.Q_BULK_CLUSTER)
    async_task("tests.test_ops_workers.record_frozen", str(tmp_path), "interactive")
    _wait_for(lambda: len(list(tmp_path.glob("*.frozen"))) == 2, 60, "both queues run their task")
    for name in ("bulk", "interactive"):
        assert int((tmp_path / f"{name}.frozen").read_text()) > 50_000, name


def test_a_killed_worker_loses_no_job_and_a_database_restart_is_survived(personas, start_worker, tmp_path):
    first = start_worker("interactive")
    key = f"tests.test_ops_workers.slow_first_attempt:{personas.workspace.id}"
    enqueue_coalesced(key=key, func="tests.test_ops_workers.slow_first_attempt", head_args=[str(tmp_path)], ids=[3, 1])
    _wait_for(lambda: (tmp_path / "attempt-1").exists(), 60, "the first worker starts the job")
    kill_node(first)

    start_worker("interactive")  # what systemd or Docker does; its sweep finds the dead run and queues it again
    _wait_for(lambda: (tmp_path / "done.json").exists(), 60, "the job runs again on the new worker")
    assert json.loads((tmp_path / "done.json").read_text()) == [1, 3]

    server = embedded_db._server(settings.EMBEDDED_PGDATA)
    from pgserver import _commands

    _commands.pg_ctl(["-w", "-m", "fast", "restart"], pgdata=settings.EMBEDDED_PGDATA, user=server.system_user)
    # The web app answers again on its own: at the start of a request (which the test client skips, hence the
    # explicit call) the kept connection is health-checked (CONN_HEALTH_CHECKS) and replaced.
    close_old_connections()
    assert Client().get("/health/ready").status_code == 200
    deal = DealFactory(workspace=personas.workspace, amount=20_000)
    _reforecast(personas.workspace.id, deal.id)
    _wait_for(lambda: ForecastRun.objects.filter(workspace=personas.workspace).exists(), 45, "a re-forecast")


def test_a_task_taken_while_the_database_is_down_waits_for_it_and_runs(personas, tmp_path):
    # A worker that takes a re-forecast from Redis while PostgreSQL restarts would fail it before claiming its row;
    # the saves after the restart only add their ids to that row, so their re-forecasts waited for the 10 s resend.
    key = f"tests.test_ops_workers.record_ids:{personas.workspace.id}"
    enqueue_coalesced(key=key, func="tests.test_ops_workers.record_ids", head_args=[str(tmp_path)], ids=[2, 1])
    server = embedded_db._server(settings.EMBEDDED_PGDATA)
    socket_dir = server.get_postmaster_info().socket_dir
    from pgserver import _commands

    errors: list[BaseException] = []

    def take_the_task() -> None:  # what a worker's thread does with the task, on a connection of its own
        try:
            run_pending(key)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=settings.EMBEDDED_PGDATA, user=server.system_user)
    worker = threading.Thread(target=take_the_task)
    try:
        worker.start()
        time.sleep(2)  # the task is taken while the database is down
        assert not errors and worker.is_alive()
    finally:  # the same start as pgserver's: no TCP, the socket where it was
        args = ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.log), "start"]
        _commands.pg_ctl(args, pgdata=settings.EMBEDDED_PGDATA, user=server.system_user, timeout=30)
        worker.join(timeout=60)
        close_old_connections()  # this test's own connection was cut: health-checked and replaced
    assert errors == []
    assert json.loads((tmp_path / "done.json").read_text()) == [1, 2]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tenancy_pendingjob WHERE key LIKE %s", [key + "%"])
        assert cursor.fetchone()[0] == 0  # claimed, run and deleted: nothing is left for a resend
