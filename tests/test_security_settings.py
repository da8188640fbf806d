"""Production by default: DEBUG off unless asked for, required secrets named, `check --deploy` clean, plain error
pages, and no demo seeded outside the local demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import path

from tenancy.models import Workspace

ROOT = Path(__file__).resolve().parent.parent
# Settings never connect on their own; `check --deploy` does not need a database either.
UNUSED_DATABASE = "postgres://app:db-password-in-clear@db.invalid:5432/vectoros"


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VECTOROS_", "DATABASE_URL", "DJANGO_", "SECURE_", "ACCOUNT_"))
        and k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "TRUSTED_PROXY_COUNT"}
    }
    env.update(
        VECTOROS_DATA_DIR=str(tmp_path / "data"),
        DJANGO_SETTINGS_MODULE="vectoros.settings",
        DATABASE_URL=UNUSED_DATABASE,
        SECRET_KEY="k" * 20 + "-production-secret-key-with-enough-entropy-9f8e7d6c5b4a",
        ALLOWED_HOSTS="vectoros.example.com",
        VECTOROS_ENCRYPTION_KEYS=f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}",
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def settings_values(env: dict[str, str], *names: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import json, django\ndjango.setup()\nfrom django.conf import settings\n"
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}))\n"
    )
    return run(["-c", code], env)


def test_check_deploy_passes_without_a_warning_in_the_production_configuration(tmp_path: Path) -> None:
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_when_https_is_switched_off(tmp_path: Path) -> None:
    env = production_env(tmp_path, SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0")
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode != 0
    assert "security.W008" in result.stderr and "security.W004" in result.stderr


def test_debug_is_off_unless_asked_for_and_production_defaults_follow(tmp_path: Path) -> None:
    names = ("DEBUG", "ACCOUNT_EMAIL_VERIFICATION", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE")
    result = settings_values(production_env(tmp_path), *names)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "ACCOUNT_EMAIL_VERIFICATION": "mandatory",
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
    }
    local = settings_values(
        production_env(tmp_path, DEBUG="true", SECRET_KEY="<unset>", VECTOROS_ENCRYPTION_KEYS="<unset>"), *names
    )
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout)["DEBUG"] is True
    assert json.loads(local.stdout)["ACCOUNT_EMAIL_VERIFICATION"] == "optional"


def test_the_proxy_header_is_trusted_only_with_a_trusted_proxy_count(tmp_path: Path) -> None:
    without = settings_values(production_env(tmp_path), "SECURE_PROXY_SSL_HEADER")
    behind = settings_values(production_env(tmp_path, TRUSTED_PROXY_COUNT="1"), "SECURE_PROXY_SSL_HEADER")
    assert json.loads(without.stdout) == {"SECURE_PROXY_SSL_HEADER": None}
    assert json.loads(behind.stdout) == {"SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"]}


@pytest.mark.parametrize("variable", ["SECRET_KEY", "ALLOWED_HOSTS", "VECTOROS_ENCRYPTION_KEYS"])
def test_with_debug_off_each_required_variable_is_named_when_missing(tmp_path: Path, variable: str) -> None:
    result = settings_values(production_env(tmp_path, **{variable: "<unset>"}), "DEBUG")
    assert result.returncode != 0
    assert f"ConfigError: {variable} must be set when DEBUG is off" in result.stderr


def test_an_encryption_key_that_is_not_a_fernet_key_is_refused_by_name(tmp_path: Path) -> None:
    env = production_env(tmp_path, VECTOROS_ENCRYPTION_KEYS=f"{Fernet.generate_key().decode()},hunter2")
    result = settings_values(env, "DEBUG")
    assert result.returncode != 0
    assert "VECTOROS_ENCRYPTION_KEYS: key 2 is not a Fernet key" in result.stderr


LEAKS = ("Traceback", "DATABASE_URL", "SECRET_KEY", "SLACK_WEBHOOK_URL", "settings.py", "DisallowedHost", "urlpatterns")


@pytest.mark.django_db
def test_a_bad_host_header_gets_our_plain_400_page(settings) -> None:
    settings.DEBUG = False
    settings.SLACK_WEBHOOK_URL = "https://hooks.slack.com/services/T000/B000/secret-slack-path"
    response = Client(HTTP_HOST="attacker.example").get("/")
    assert response.status_code == 400
    body = response.content.decode()
    assert "Bad request (400)" in body
    assert not any(leak in body for leak in LEAKS)
    assert "secret-slack-path" not in body


@pytest.mark.django_db
def test_an_unknown_url_gets_our_plain_404_page(settings) -> None:
    settings.DEBUG = False
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Not found (404)" in body
    assert not any(leak in body for leak in LEAKS)
    assert response["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_demo_is_never_seeded_when_debug_is_off(settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only seeded with DEBUG=true"):
        call_command("seed_demo", "--scale", "0.05")
    assert not Workspace.objects.filter(slug="demo").exists()


def _boom(request):
    raise RuntimeError("DATABASE_URL=postgres://app:db-password-in-clear@db")


urlpatterns = [path("boom/", _boom)]


@pytest.mark.django_db
def test_a_server_error_gets_our_plain_500_page(settings) -> None:
    settings.DEBUG = False
    settings.ROOT_URLCONF = __name__
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong (500)" in body
    assert "db-password-in-clear" not in body and not any(leak in body for leak in LEAKS)
