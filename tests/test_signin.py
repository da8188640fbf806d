"""Sign-in through allauth: log in, sign up (creates a workspace), password reset, TOTP two-factor."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from tenancy.models import Membership, Role

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def totp(secret: str, at: datetime) -> str:
    """RFC 6238 code (SHA-1, 6 digits, 30 s), computed here independently of allauth."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at.timestamp()) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def sign_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_login_page_and_sign_in_opens_the_workspace(personas):
    client = Client()
    page = client.get(reverse("account_login"))
    assert page.status_code == 200 and "vectoros/app.css" in page.content.decode()
    wrong = sign_in(client, "owner@acme.test", "nope")
    assert wrong.status_code == 200 and "not correct" in wrong.content.decode()
    response = sign_in(client, "owner@acme.test")
    assert response.status_code == 302
    assert client.get(response["Location"])["Location"] == reverse("crm:board", args=["acme"])


def test_sign_up_creates_an_owned_workspace(db):
    client = Client()
    response = client.post(
        reverse("account_signup"),
        {"email": "founder@startup.test", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(email="founder@startup.test")
    membership = Membership.objects.select_related("workspace").get(user=user)
    assert membership.role == Role.OWNER and membership.workspace.slug == "founder"
    assert membership.workspace.pipelines.get().stages.count() == 7
    board = client.get(reverse("home"), follow=True)
    assert board.status_code == 200 and "Prospecting" in board.content.decode()


def test_sign_up_rejects_a_short_password(db):
    response = Client().post(
        reverse("account_signup"), {"email": "a@b.test", "password1": "short", "password2": "short"}
    )
    assert response.status_code == 200 and "too short" in response.content.decode()
    assert not get_user_model().objects.filter(email="a@b.test").exists()


def test_password_reset_by_email(personas):
    client = Client()
    client.post(reverse("account_reset_password"), {"email": "owner@acme.test"})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/password/reset/key/\S+/)", mail.outbox[0].body)[1]
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and 'name="password1"' in form_page.content.decode()
    done = client.post(form_page.redirect_chain[-1][0] if form_page.redirect_chain else link,
                       {"password1": "brand-new-secret-9", "password2": "brand-new-secret-9"})  # fmt: skip
    assert done.status_code == 302
    assert sign_in(Client(), "owner@acme.test", PASSWORD).status_code == 200  # the old one no longer works
    assert sign_in(Client(), "owner@acme.test", "brand-new-secret-9").status_code == 302


def test_activate_totp_then_sign_in_needs_the_code(personas, frozen_time):
    client = Client()
    assert sign_in(client, "owner@acme.test").status_code == 302
    # Turning on two-factor asks for the password again, as it would in the browser.
    ask = client.get(reverse("mfa_activate_totp"))
    assert ask.status_code == 302 and ask["Location"].startswith(reverse("account_reauthenticate"))
    client.post(ask["Location"], {"password": PASSWORD})
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = re.search(
        r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"|value="([A-Z2-7]{16,})"', page.content.decode()
    )
    secret = next(g for g in secret.groups() if g)
    wrong = client.post(reverse("mfa_activate_totp"), {"code": "000000" if totp(secret, NOW) != "000000" else "111111"})
    assert wrong.status_code == 200 and not Authenticator.objects.exists()
    assert client.post(reverse("mfa_activate_totp"), {"code": totp(secret, NOW)}).status_code == 302
    assert Authenticator.objects.filter(user=personas.owner.user, type=Authenticator.Type.TOTP).exists()

    frozen_time.shift(timedelta(minutes=5))
    later = datetime.now(tz=UTC)
    fresh = Client()
    step = sign_in(fresh, "owner@acme.test")
    assert step.status_code == 302 and step["Location"] == reverse("mfa_authenticate")
    assert fresh.get(reverse("crm:board", args=["acme"])).status_code == 302  # not signed in yet
    assert fresh.post(reverse("mfa_authenticate"), {"code": totp(secret, later)}).status_code == 302
    assert fresh.get(reverse("crm:board", args=["acme"])).status_code == 200
