"""Secrets at rest: webhook secrets and Slack URLs encrypted (with key rotation), the signing secret shown once
and never stored in a cookie or the session, and deal titles that cannot ping a Slack channel."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from alerts.delivery.slack import message
from alerts.models import AlertSettings, WebhookEndpoint
from alerts.services import alert_settings_get, webhook_endpoint_create
from tests.factories import UserFactory
from vectoros import crypto

SLACK_URL = "https://hooks.slack.com/services/T0000/B0000/very-secret-path"


def raw_column(table: str, column: str, row_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [row_id])
        return cursor.fetchone()[0]


@pytest.fixture
def keys(settings):
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    return settings


@pytest.mark.django_db
def test_webhook_secret_and_slack_url_are_stored_encrypted(personas, keys):
    endpoint = webhook_endpoint_create(
        workspace=personas.workspace, url="https://example.com/hook", send_alert_events=True, send_deal_events=False
    )
    row = alert_settings_get(workspace=personas.workspace)
    row.slack_webhook_url = SLACK_URL
    row.save()

    stored_secret = raw_column("alerts_webhookendpoint", "secret", endpoint.id)
    stored_url = raw_column("alerts_alertsettings", "slack_webhook_url", row.id)
    assert "whsec_" not in stored_secret and "hooks.slack.com" not in stored_url
    assert Fernet(keys.ENCRYPTION_KEYS[0].encode()).decrypt(stored_url.encode()).decode() == SLACK_URL
    # The application reads the plain values.
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret.startswith("whsec_")
    assert AlertSettings.objects.get(pk=row.pk).slack_webhook_url == SLACK_URL


@pytest.mark.django_db
def test_rotate_encryption_keys_re_encrypts_with_the_newest_key(personas, keys):
    old = keys.ENCRYPTION_KEYS[0]
    endpoint = webhook_endpoint_create(
        workspace=personas.workspace, url="https://example.com/hook", send_alert_events=True, send_deal_events=False
    )
    secret = endpoint.secret
    new = Fernet.generate_key().decode()
    keys.ENCRYPTION_KEYS = [new, old]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "alerts.WebhookEndpoint.secret: 1 re-encrypted" in out.getvalue()

    stored = raw_column("alerts_webhookendpoint", "secret", endpoint.id)
    assert Fernet(new.encode()).decrypt(stored.encode()).decode() == secret  # the old key is no longer needed
    keys.ENCRYPTION_KEYS = [new]
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == secret


def test_without_keys_the_local_demo_derives_one_from_secret_key_and_warns(settings, caplog):
    settings.ENCRYPTION_KEYS = []
    settings.SECRET_KEY = "a-local-demo-secret-key-for-this-test-only"
    with caplog.at_level(logging.WARNING, logger="vectoros.crypto"):
        token = crypto.encrypt("whsec_abc")
    assert crypto.decrypt(token) == "whsec_abc"
    assert "VECTOROS_ENCRYPTION_KEYS is not set" in caplog.text


@pytest.mark.django_db
def test_the_signing_secret_is_shown_once_and_kept_out_of_cookies_and_the_session(personas):
    client = personas.client_for(personas.owner)
    page = reverse("alerts:webhooks", args=[personas.workspace.slug])
    response = client.post(page, {"url": "https://example.com/hook", "send_alert_events": "on"})
    secret = WebhookEndpoint.objects.get(workspace=personas.workspace).secret
    assert response.status_code == 201
    assert secret in response.content.decode()
    assert all(secret not in morsel.value for morsel in response.cookies.values())
    assert all(secret not in str(value) for value in client.session.values())
    assert secret not in client.get(page).content.decode()  # not shown again


def test_slack_text_cannot_ping_a_channel_or_hide_a_link():
    payload = {
        "data": {
            "kind": "stale",
            "seen": "Quiet for 30 days <@U123>",
            "why": "Amount > 10k & no reply",
            "next_step": "Call <https://evil.example|the bank>",
            "deal": {"title": "<!channel> urgent", "url": "https://vectoros.example.com/w/acme/deals/1/"},
        }
    }
    body = message(payload)
    texts = [body["text"]] + [block["text"]["text"] for block in body["blocks"]]
    everything = "\n".join(texts)
    assert "<!channel>" not in everything and "&lt;!channel&gt; urgent" in everything
    assert "<@U123>" not in everything and "<https://evil.example" not in everything
    assert "Amount &gt; 10k &amp; no reply" in everything
    assert "<https://vectoros.example.com/w/acme/deals/1/|Open the deal>" in everything  # our own link stays a link


@pytest.mark.django_db
def test_an_invitation_link_works_but_what_the_database_holds_does_not(personas, django_capture_on_commit_callbacks):
    from django.core import mail
    from django.test import Client

    from tenancy.models import Invitation
    from tenancy.services import invitation_create

    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(workspace=personas.workspace, invited_by=personas.owner, email="new@acme.test", role="rep")
    stored = Invitation.objects.get().token_hash
    link = next(line for line in mail.outbox[0].body.splitlines() if "/invitations/" in line).split("Accept: ")[1]
    raw_token = link.rstrip("/").rsplit("/", 1)[1]
    assert stored not in mail.outbox[0].body and raw_token not in stored

    client = Client()
    client.force_login(UserFactory(email="new@acme.test"))
    assert client.get(reverse("invitation_accept", args=[stored])).status_code == 404
    assert client.get(reverse("invitation_accept", args=[raw_token])).status_code == 200
