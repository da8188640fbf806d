"""`manage.py run`: the web app and the django-q2 worker together; Ctrl-C stops both and the embedded database."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from vectoros import embedded_db

DEMO_SIGN_IN = ("demo@example.com", "vectoros-demo")


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


class Command(BaseCommand):
    help = "Serve the web app and run the background worker until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")

    def handle(self, *args: Any, **options: Any) -> None:
        python = sys.executable
        if _port_answers(str(options["host"]), int(options["port"])):
            raise CommandError(
                f"Port {options['port']} on {options['host']} is in use (is VectorOS already running?). "
                "Stop that program or choose another port: PORT=8001 make run"
            )
        address = f"{options['host']}:{options['port']}"
        children = [
            subprocess.Popen([python, "manage.py", "qcluster"], cwd=settings.BASE_DIR),  # noqa: S603 (our own python)
            subprocess.Popen(  # noqa: S603
                [
                    str(Path(python).with_name("gunicorn")),
                    "vectoros.wsgi:application",
                    f"--bind={address}",
                    f"--workers={options['workers']}",
                    "--threads=4",
                    "--timeout=120",
                ],
                cwd=settings.BASE_DIR,
            ),
        ]
        _wait_for_port(str(options["host"]), int(options["port"]), children)
        demo = f"Sign in as {DEMO_SIGN_IN[0]} / {DEMO_SIGN_IN[1]}   " if settings.DEBUG else ""
        self.stdout.write(
            self.style.SUCCESS(f"\nVectorOS is running at http://{address}/\n")
            + f"{demo}(Ctrl-C stops web, worker and database)\n"
        )
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.5)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 20
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
            if not settings.DATABASE_URL:
                from django.db import connections

                connections.close_all()
                embedded_db.stop(settings.EMBEDDED_PGDATA)
            self.stdout.write("VectorOS stopped.")
