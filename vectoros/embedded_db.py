"""The embedded PostgreSQL (with pgvector) that VectorOS uses when DATABASE_URL is unset.

`pgserver` ships PostgreSQL 16 with pgvector. The server is started once and left running
(shared by every process that uses the same data folder); `stop()` shuts it down, which
`manage.py run` does on Ctrl-C.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DATABASE_NAME = "vectoros"


@dataclass(frozen=True)
class EmbeddedDatabase:
    pgdata: Path
    socket_dir: Path
    port: int


def _server(pgdata: Path):
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - the package is a hard dependency
        raise RuntimeError(
            "DATABASE_URL is unset and the 'pgserver' package is missing: run `make run` "
            "(it installs the project) or set DATABASE_URL to a PostgreSQL server with pgvector."
        ) from exc
    pgdata.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(pgdata, cleanup_mode=None)


def ensure_running(pgdata: Path) -> EmbeddedDatabase:
    """Start the embedded server when it is not running and make sure our database exists."""
    server = _server(pgdata)
    info = server.get_postmaster_info()
    db = EmbeddedDatabase(pgdata=pgdata, socket_dir=Path(info.socket_dir), port=int(info.port))
    _ensure_database(server)
    return db


def _ensure_database(server) -> None:
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
    from pgserver._commands import pg_ctl

    server = _server(pgdata)
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)
    except subprocess.CalledProcessError:
        logger.warning("the embedded PostgreSQL in %s was already stopped", pgdata)
