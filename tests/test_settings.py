"""Settings: importing them starts nothing, DATABASE_URL keeps its options, a bad value names its variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from vectoros.env import ConfigError, env_choice

ROOT = Path(__file__).resolve().parent.parent


def _settings_in_subprocess(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings and set Django up in a fresh interpreter; print the default database settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VECTOROS_", "DATABASE_URL", "DJANGO_"))}
    clean.update(VECTOROS_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="vectoros.settings", **env)
    code = (
        "import json, django\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        "print(json.dumps({k: v for k, v in settings.DATABASES['default'].items()}, default=str))\n"
    )
    return subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False
    )


def _postgres_serving(data_dir: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and any(str(data_dir) in part for part in cmdline):
            found.append(proc.pid)
    return found


def test_importing_settings_starts_no_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    result = _settings_in_subprocess(data_dir)
    assert result.returncode == 0, result.stderr
    default = json.loads(result.stdout)
    # It still says where the embedded server will listen once an entry point starts it.
    assert default["HOST"] == str(data_dir / "pg") and default["PORT"] == "5432"
    assert not (data_dir / "pg" / "postmaster.pid").exists()
    assert not (data_dir / "pg" / "PG_VERSION").exists()  # not even initialised
    assert _postgres_serving(data_dir) == []


def test_database_url_keeps_its_query_options(tmp_path: Path) -> None:
    url = "postgres://app:s%40cret@db.example.com:6432/vectoros?sslmode=require&connect_timeout=5"
    result = _settings_in_subprocess(tmp_path / "unused", DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    default = json.loads(result.stdout)
    assert default["OPTIONS"]["sslmode"] == "require"
    assert str(default["OPTIONS"]["connect_timeout"]) == "5"
    assert (default["HOST"], str(default["PORT"]), default["NAME"]) == ("db.example.com", "6432", "vectoros")
    assert (default["USER"], default["PASSWORD"]) == ("app", "s@cret")
    assert not (tmp_path / "unused" / "pg").exists()  # with DATABASE_URL the embedded server is never touched


def test_a_database_url_that_is_not_postgres_is_refused_by_name(tmp_path: Path) -> None:
    result = _settings_in_subprocess(tmp_path, DATABASE_URL="mysql://app@db.example.com/vectoros")
    assert result.returncode != 0
    assert "DATABASE_URL must be a postgres:// URL" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOG_LEVEL", "LOUD"),
        ("Q_LOG_LEVEL", "verbose"),
        ("ACCOUNT_EMAIL_VERIFICATION", "sometimes"),
        ("EMAIL_BACKEND", "smtp"),
    ],
)
def test_a_bad_choice_names_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    result = _settings_in_subprocess(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert f"ConfigError: {variable} must be one of" in result.stderr and repr(value) in result.stderr


def test_env_choice_accepts_any_case_and_returns_the_declared_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_LEVEL", " warning ")
    assert env_choice("SOME_LEVEL", "INFO", ["INFO", "WARNING"]) == "WARNING"
    monkeypatch.setenv("SOME_LEVEL", "")
    assert env_choice("SOME_LEVEL", "INFO", ["INFO", "WARNING"]) == "INFO"
    monkeypatch.setenv("SOME_LEVEL", "trace")
    with pytest.raises(ConfigError, match=r"SOME_LEVEL must be one of INFO, WARNING, not 'trace'"):
        env_choice("SOME_LEVEL", "INFO", ["INFO", "WARNING"])


@pytest.mark.slow
def test_a_manage_py_command_starts_the_embedded_database_and_stops_it_on_exit(tmp_path: Path) -> None:
    data_dir = tmp_path / "cli"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VECTOROS_", "DATABASE_URL", "DJANGO_"))}
    clean["VECTOROS_DATA_DIR"] = str(data_dir)
    code = "from django.db import connection; connection.ensure_connection(); print(connection.settings_dict['HOST'])"
    result = subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(data_dir / "pg")  # connected where the settings said it would listen
    assert (data_dir / "pg" / "PG_VERSION").exists()
    assert not (data_dir / "pg" / "postmaster.pid").exists()  # the last (only) user stopped it
    assert _postgres_serving(data_dir) == []
