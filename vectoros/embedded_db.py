"""The embedded PostgreSQL (with pgvector) that VectorOS uses when DATABASE_URL is unset.

`pgserver` ships PostgreSQL 16 with pgvector. Settings only say where the server listens
(`connection_settings`, which starts nothing); the entry points start it: `manage.py` before any
command, `vectoros.wsgi`, and the test setup (`tests/conftest.py`), all through `start_for_settings()`.

A server is shared by every process that uses the same data folder. pgserver counts those processes
and the last one to exit stops the server, so a one-off command (`migrate`, `seed_demo`) leaves no
PostgreSQL behind; `manage.py run` stops it on Ctrl-C whoever else still holds it (`stop()`).
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from django.conf import settings

if TYPE_CHECKING:
    from pgserver import PostgresServer

logger = logging.getLogger(__name__)

DATABASE_NAME = "vectoros"
# pgserver starts PostgreSQL with no port option on Unix, so the server keeps PostgreSQL's default, and puts the
# socket in the data folder itself unless that path is too long for a Unix socket (then a runtime folder).
DEFAULT_PORT = 5432


@dataclass(frozen=True)
class EmbeddedDatabase:
    pgdata: Path
    socket_dir: Path
    port: int


def connection_settings(pgdata: Path) -> dict[str, str]:
    """Django's connection values for the server of `pgdata`, without starting or creating anything.

    A running server's own postmaster.pid says where it listens; otherwise this is where pgserver will put
    it. `start_for_settings` corrects the settings in the rare case the start chose otherwise.
    """
    socket_dir, port = _running_server(pgdata) or (pgdata, DEFAULT_PORT)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(socket_dir),
        "PORT": str(port),
    }


def _running_server(pgdata: Path) -> tuple[Path, int] | None:
    """(socket folder, port) from the postmaster.pid of a server that runs, else None."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, port, socket_dir = int(lines[0]), int(lines[3]), lines[4].strip()
    except (OSError, IndexError, ValueError):  # no server, or a postmaster.pid being written
        return None
    return (Path(socket_dir), port) if socket_dir and psutil.pid_exists(pid) else None


def start_for_settings() -> EmbeddedDatabase | None:
    """Start the embedded server when the settings use it (DATABASE_URL unset); None when they do not.

    Call before the first query. The settings' connection values are brought in line with the running
    server (they already are unless pgserver had to put the socket elsewhere).
    """
    if not settings.EMBEDDED_DATABASE:
        return None
    db = ensure_running(settings.EMBEDDED_PGDATA)
    settings.DATABASES["default"].update(HOST=str(db.socket_dir), PORT=str(db.port))
    return db


def _server(pgdata: Path) -> PostgresServer:
    # Imported here: pgserver sets up its runtime folder on import, which only processes that start a server need.
    import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    # "stop": the last process holding the server stops it when it exits (see the module docstring).
    return pgserver.get_server(pgdata, cleanup_mode="stop")


def ensure_running(pgdata: Path) -> EmbeddedDatabase:
    """Start the embedded server when it is not running and make sure our database exists."""
    server = _server(pgdata)
    info = server.get_postmaster_info()
    if info.socket_dir is None:
        raise RuntimeError(f"the embedded PostgreSQL in {pgdata} listens on no Unix socket")
    db = EmbeddedDatabase(pgdata=pgdata, socket_dir=Path(info.socket_dir), port=int(info.port or DEFAULT_PORT))
    _ensure_database(server)
    return db


def _ensure_database(server: PostgresServer) -> None:
    marker = server.pgdata / ".vectoros_db_created"
    if marker.exists():
        return
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    marker.touch()


def stop(pgdata: Path) -> None:
    """Stop the embedded server for this data folder, if it runs."""
    if not (pgdata / "postmaster.pid").exists():
        return
    server = _server(pgdata)
    from pgserver import _commands  # imported with pgserver by _server

    try:
        # pgserver builds its command functions at import time, so mypy cannot see them.
        _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)  # type: ignore[attr-defined]
    except subprocess.CalledProcessError:
        logger.warning("the embedded PostgreSQL in %s was already stopped", pgdata)
