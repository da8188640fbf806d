"""`manage.py run --role web|worker|all`: the processes of one VectorOS node, until Ctrl-C or SIGTERM.

- web: gunicorn (`--web-workers` processes, 4 threads each) on `--host:--port`.
- worker: one django-q2 cluster per queue (`--queue interactive|bulk|all`), each with its own workers, and every
  few seconds `tenancy.jobs.requeue_abandoned()`, which puts back the work of a worker that died.
- all (the default, what `make run` uses): both, and Ctrl-C also stops the embedded database.

Any number of web and worker processes, on any hosts, can share one database (DATABASE_URL) and broker
(REDIS_URL). A child that exits ends the command with an error, so a supervisor (systemd, Docker) restarts it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connection

from tenancy.jobs import requeue_abandoned
from vectoros import embedded_db

DEMO_SIGN_IN = ("demo@example.com", "vectoros-demo")
_PR_SET_PDEATHSIG = 1  # prctl(2)
REQUEUE_EVERY = 5.0  # seconds between two sweeps for abandoned work (worker role)
logger = logging.getLogger(__name__)


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _wait_for_port(host: str, port: int, children: list[subprocess.Popen[bytes]], timeout: float = 120) -> None:
    """Announce the URL only once the web server answers (or a child has died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(child.poll() is None for child in children):
        if _port_answers(host, port):
            return
        time.sleep(0.3)


def queue_clusters(queue: str) -> list[str]:
    """django-q2 cluster names for `--queue`: the default cluster is the interactive queue."""
    names = {"interactive": [str(settings.Q_CLUSTER["name"])], "bulk": [settings.Q_BULK_CLUSTER]}
    return names[queue] if queue in names else names["interactive"] + names["bulk"]


def _lower_priority(increment: int) -> None:
    """Between fork and exec of the bulk cluster, which `Popen(start_new_session=True)` put in a session of its own.

    On Linux with autogroup scheduling (the default on desktops and many servers), the CPU is shared between
    sessions first and `nice` only orders the processes inside one; the web, the interactive workers and the
    database each run in their own session, so a niced bulk worker in theirs would still take an equal share.
    Its own session's autogroup therefore gets the same lower priority; where there is no autogroup, the
    process's nice value is what counts. The cluster also stops when this supervisor dies (PR_SET_PDEATHSIG),
    as it would have with the supervisor's session.
    """
    os.nice(increment)
    for _attempt in range(5):  # the kernel takes one such change per 100 ms from unprivileged users (EAGAIN)
        try:
            with open("/proc/self/autogroup", "w") as autogroup:
                autogroup.write(str(min(19, increment)))
        except BlockingIOError:
            time.sleep(0.1)
        except OSError:  # not Linux or no autogroup: the nice value above is what counts
            break
        else:
            break
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the cluster then outlives a killed supervisor
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _priority(cluster: str) -> Callable[[], None] | None:
    """The bulk cluster (its sentinel, pusher and every worker it forks) starts `settings.Q_BULK_NICE` lower in CPU
    priority, so embedding backfills, imports and training use what pages and re-forecasts leave idle."""
    increment = int(settings.Q_BULK_NICE) if cluster == settings.Q_BULK_CLUSTER else 0
    if not increment:
        return None
    return functools.partial(_lower_priority, increment)


def _sweep() -> None:
    try:
        close_old_connections()
        found = requeue_abandoned()
    except Exception as exc:  # the database may be restarting: try again at the next sweep
        logger.warning("could not look for abandoned jobs: %s", exc)
        connection.close()
        return
    if any(found.values()):
        logger.info("abandoned jobs: %s", found)


class Command(BaseCommand):
    help = "Run the web app, the background workers, or both, until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", choices=["all", "web", "worker"], default="all")
        parser.add_argument("--queue", choices=["all", "interactive", "bulk"], default="all", help="worker role")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--web-workers", "--workers", dest="web_workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        role, host, port = str(options["role"]), str(options["host"]), int(options["port"])
        if options["web_workers"] < 1:
            raise CommandError("--web-workers must be at least 1")
        children: list[subprocess.Popen[bytes]] = []
        if role in ("web", "all"):
            if _port_answers(host, port):
                raise CommandError(
                    f"Port {port} on {host} is in use (is VectorOS already running?). "
                    "Stop that program or choose another port: PORT=8001 make run"
                )
            children.append(self._start_web(host, port, int(options["web_workers"])))
        if role in ("worker", "all"):
            for cluster in queue_clusters(str(options["queue"])):
                env = {**os.environ, "Q_CLUSTER_NAME": cluster}
                qcluster = [sys.executable, "manage.py", "qcluster"]
                lower = _priority(cluster)
                children.append(
                    subprocess.Popen(  # noqa: S603 (our own python)
                        qcluster, cwd=settings.BASE_DIR, env=env, preexec_fn=lower, start_new_session=lower is not None
                    )
                )
        if role in ("web", "all"):
            _wait_for_port(host, port, children)
            self.stdout.write(self.style.SUCCESS(f"\nVectorOS ({role}) is running at http://{host}:{port}/\n"))
            if role == "all" and settings.DEBUG:  # the demo logins exist only in the local demo
                self.stdout.write(
                    f"Sign in as {DEMO_SIGN_IN[0]} / {DEMO_SIGN_IN[1]}   (Ctrl-C stops web, worker and database)\n"
                )
        else:
            self.stdout.write(
                self.style.SUCCESS(f"VectorOS workers running: {', '.join(queue_clusters(options['queue']))}")
            )
        self._supervise(children, sweep=role in ("worker", "all"), stop_database=role == "all")

    def _start_web(self, host: str, port: int, workers: int) -> subprocess.Popen[bytes]:
        # Request metrics from every gunicorn worker of this process, gathered in one folder (ops.metrics).
        metrics_dir = settings.DATA_DIR / "metrics" / f"web-{port}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        return subprocess.Popen(  # noqa: S603 (our own gunicorn)
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "vectoros.wsgi:application",
                f"--bind={host}:{port}",
                f"--workers={workers}",
                "--threads=4",
                "--timeout=120",
                "--graceful-timeout=20",
                "--keep-alive=75",  # longer than a proxy's idle upstream connections (nginx: 60 s)
            ],
            cwd=settings.BASE_DIR,
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
        )

    def _supervise(self, children: list[subprocess.Popen[bytes]], *, sweep: bool, stop_database: bool) -> None:
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        next_sweep = time.monotonic()
        try:
            while not stopping and all(child.poll() is None for child in children):
                if sweep and time.monotonic() >= next_sweep:
                    _sweep()
                    next_sweep = time.monotonic() + REQUEUE_EVERY
                time.sleep(0.5)
        finally:
            died = [child for child in children if child.poll() is not None]
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)  # gunicorn and django-q2 finish what they run, then exit
            deadline = time.monotonic() + 25
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
            connection.close()
            if stop_database and not settings.DATABASE_URL:
                from django.db import connections

                connections.close_all()
                embedded_db.stop(settings.EMBEDDED_PGDATA)
            self.stdout.write("VectorOS stopped.")
        if died and not stopping:
            raise CommandError(
                f"a child process (pid {died[0].pid}) exited with {died[0].returncode}; stopped the rest"
            )
