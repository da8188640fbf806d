"""Backup and restore in one file: a tar of the database (pg_dump, custom format) and the data folder's trained
models and uploads. Used by `manage.py backup --to FILE` and `manage.py restore --from FILE`.

pg_dump must be at least as new as the server. The binaries come from PG_BIN_DIR when set, else from the
PostgreSQL 16 that pgserver bundles (the embedded database's own, also right for a PostgreSQL 16 server), else
from PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

MANIFEST = "vectoros-backup.json"
DUMP = "database.dump"
FOLDERS = ("models", "uploads")  # under VECTOROS_DATA_DIR


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    size_bytes: int
    files: int


def pg_binary(name: str) -> str:
    if os.environ.get("PG_BIN_DIR"):
        return str(Path(os.environ["PG_BIN_DIR"]) / name)
    spec = find_spec("pgserver")  # located, not imported: importing pgserver sets up a runtime folder
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / name
        if bundled.exists():
            return str(bundled)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} was not found: install the PostgreSQL client or set PG_BIN_DIR")
    return found


def _libpq_env(db: dict[str, Any]) -> dict[str, str]:
    """The connection as libpq environment variables (no password on a command line)."""
    env = {**os.environ, "PGDATABASE": str(db["NAME"]), "PGUSER": str(db.get("USER") or "")}
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            env[var] = str(db[key])
    options = db.get("OPTIONS") or {}
    if options.get("sslmode"):
        env["PGSSLMODE"] = str(options["sslmode"])
    return env


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603 (PostgreSQL's own tools)
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stderr.strip()[-1000:]}")


def backup_create(*, to: Path, db: dict[str, Any], data_dir: Path) -> BackupSummary:
    """Write the database and data_dir's models and uploads to `to` (written beside it, then renamed)."""
    to = to.resolve()
    to.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=to.parent) as work:
        dump = Path(work) / DUMP
        _run(
            [pg_binary("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}"], _libpq_env(db)
        )
        manifest = {"format": 1, "created_at": datetime.now(UTC).isoformat(), "folders": list(FOLDERS)}
        (Path(work) / MANIFEST).write_text(json.dumps(manifest))
        partial = Path(work) / "backup.tar"
        files = 0
        with tarfile.open(partial, "w") as tar:
            tar.add(Path(work) / MANIFEST, arcname=MANIFEST)
            tar.add(dump, arcname=DUMP)
            for folder in FOLDERS:
                if (data_dir / folder).is_dir():
                    tar.add(data_dir / folder, arcname=folder)
                    files += sum(1 for p in (data_dir / folder).rglob("*") if p.is_file())
        partial.replace(to)
    return BackupSummary(path=to, size_bytes=to.stat().st_size, files=files)


def _database_is_empty(db: dict[str, Any]) -> bool:
    env = _libpq_env(db)
    conninfo = {
        k: v
        for k, v in (
            ("dbname", env["PGDATABASE"]),
            ("user", env["PGUSER"]),
            ("host", env.get("PGHOST")),
            ("port", env.get("PGPORT")),
            ("password", env.get("PGPASSWORD")),
            ("sslmode", env.get("PGSSLMODE")),
        )
        if v
    }
    with psycopg.connect(make_conninfo(**conninfo)) as conn:
        row = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone()
    return row is not None and row[0] == 0


def backup_restore(*, source: Path, db: dict[str, Any], data_dir: Path) -> int:
    """Restore a backup into an empty database and data_dir; returns the number of files put back."""
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    try:
        tar = tarfile.open(source, "r")  # noqa: SIM115 (closed by the `with` below; opening is what can fail)
    except tarfile.TarError as exc:
        raise BackupError(f"{source} is not a VectorOS backup ({exc})") from None
    with tar, tempfile.TemporaryDirectory() as work:
        names = tar.getnames()
        if MANIFEST not in names or DUMP not in names:
            raise BackupError(f"{source} is not a VectorOS backup (no {MANIFEST} or {DUMP} in it)")
        if not _database_is_empty(db):
            raise BackupError(
                f"database {db['NAME']} is not empty: restore goes into an empty database (create one, or drop "
                "this one's tables) so nothing is silently mixed"
            )
        tar.extractall(work, filter="data")
        _run(
            [
                pg_binary("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                f"--dbname={db['NAME']}",
                str(Path(work) / DUMP),
            ],
            _libpq_env(db),
        )
        files = 0
        for folder in FOLDERS:
            restored = Path(work) / folder
            if restored.is_dir():
                shutil.copytree(restored, data_dir / folder, dirs_exist_ok=True)
                files += sum(1 for p in restored.rglob("*") if p.is_file())
    return files
