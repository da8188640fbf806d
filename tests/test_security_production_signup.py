"""In production: email verification is mandatory (a weaker setting is refused) and sign-up is by invitation."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_security_settings import production_env, settings_values


def test_production_refuses_optional_email_verification(tmp_path: Path) -> None:
    result = settings_values(production_env(tmp_path, ACCOUNT_EMAIL_VERIFICATION="none"), "DEBUG")
    assert result.returncode != 0
    assert "ACCOUNT_EMAIL_VERIFICATION must be mandatory when DEBUG is off" in result.stderr


def test_sign_up_is_invite_only_in_production_and_open_in_the_local_demo(tmp_path: Path) -> None:
    production = settings_values(production_env(tmp_path), "VECTOROS_SIGNUP", "ALLAUTH_TRUSTED_PROXY_COUNT")
    assert json.loads(production.stdout) == {"VECTOROS_SIGNUP": "invite-only", "ALLAUTH_TRUSTED_PROXY_COUNT": 0}
    opened = settings_values(production_env(tmp_path, VECTOROS_SIGNUP="open"), "VECTOROS_SIGNUP")
    assert json.loads(opened.stdout) == {"VECTOROS_SIGNUP": "open"}
    local = production_env(tmp_path, DEBUG="true", SECRET_KEY="<unset>", VECTOROS_ENCRYPTION_KEYS="<unset>")
    assert json.loads(settings_values(local, "VECTOROS_SIGNUP").stdout) == {"VECTOROS_SIGNUP": "open"}
