"""Delivery reaches real local receivers exactly once: an SMTP server (aiosmtpd), a Standard Webhooks
receiver that verifies signatures, and a Slack-like incoming webhook; private addresses are refused."""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from alerts.delivery import email, outbox
from alerts.delivery.http import RefusedDestination, check_destination
from alerts.models import Alert, Delivery, DeliveryStatus, NotificationPreference, Priority, WebhookEndpoint
from alerts.services import alert_settings_get, monitors_run, notification_preference_save
from tests.alerts_helpers import NOW, log_activity, make_deal

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=controller.port,
        EMAIL_USE_TLS=False,
    ):
        yield inbox
    controller.stop()


class _Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # answers to give, then 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    r = _Receiver()
    with override_settings(ALERTS_ALLOW_LOOPBACK_URLS=True):
        yield r
    r.server.shutdown()


@pytest.fixture
def critical(personas):
    """A large quiet deal owned by the rep: a Critical stale alert."""
    make_deal(personas.workspace, personas.rep, title="Quiet big deal", amount=400_000, created_days_ago=70)
    for title in ("Small", "Smaller"):
        small = make_deal(personas.workspace, personas.rep, title=title, amount=1_000, created_days_ago=1)
        log_activity(small, days_ago=0.5)  # the workspace logs activities: silence on the big deal means something
    return personas


def _alert_payloads(receiver):
    return [json.loads(body) for _, _, body in receiver.requests]


def test_digest_reaches_the_smtp_server_once(critical, smtp):
    monitors_run(workspace=critical.workspace, as_of=NOW)
    notification_preference_save(membership=critical.rep, digest="daily", min_priority=Priority.LOW)
    # Morning of today, so that two hours later is still the same day whenever the test runs.
    now = timezone.now().replace(hour=9, minute=0, second=0, microsecond=0)
    assert email.digests_enqueue(frequency="daily", now=now) == 1
    outbox.deliver_due()
    assert email.digests_enqueue(frequency="daily", now=now + timedelta(hours=2)) == 0  # same day: no second
    outbox.deliver_due(now=now + timedelta(hours=3))
    assert len(smtp.messages) == 1
    message = message_from_bytes(smtp.messages[0])
    assert message["To"] == "rep@acme.test" and "1 alert need" in message["Subject"]
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()}
    assert "Quiet big deal" in parts["text/plain"] and "<a href=" in parts["text/html"]
    assert "/w/acme/deals/" in parts["text/plain"]
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_members_choosing_no_email_or_weekly_get_no_daily_digest(critical, smtp):
    monitors_run(workspace=critical.workspace, as_of=NOW)
    NotificationPreference.objects.create(membership=critical.owner, digest="none")
    assert email.digests_enqueue(frequency="daily", now=timezone.now()) == 0
    assert email.digests_enqueue(frequency="weekly", now=timezone.now()) >= 1  # manager and rep: weekly default


def test_a_worker_killed_after_sending_does_not_send_the_email_again(critical, smtp, monkeypatch):
    monitors_run(workspace=critical.workspace, as_of=NOW)
    notification_preference_save(membership=critical.rep, digest="daily", min_priority=Priority.LOW)
    email.digests_enqueue(frequency="daily", now=timezone.now())
    real_send = email.send

    def send_then_die(delivery):
        real_send(delivery)
        raise SystemExit("worker killed")

    monkeypatch.setattr(email, "send", send_then_die)
    with pytest.raises(SystemExit):
        outbox.deliver_due()
    monkeypatch.setattr(email, "send", real_send)
    now = timezone.now()
    outbox.deliver_due(now=now)  # the restarted worker, within the lease
    outbox.deliver_due(now=now + outbox.LEASE + timedelta(minutes=1))  # after it
    assert len(smtp.messages) == 1
    assert Delivery.objects.get().status == DeliveryStatus.UNKNOWN


def test_webhook_is_signed_and_delivered_once(critical, receiver):
    endpoint = WebhookEndpoint.objects.create(workspace=critical.workspace, url=receiver.url + "/hook")
    monitors_run(workspace=critical.workspace, as_of=NOW)
    monitors_run(workspace=critical.workspace, as_of=NOW)  # nothing new: nothing to send
    outbox.deliver_due()
    outbox.deliver_due()
    assert len(receiver.requests) == 1
    path, headers, body = receiver.requests[0]
    payload = Webhook(endpoint.secret).verify(body, headers)
    assert path == "/hook" and payload["type"] == "alert.created"
    assert payload["data"]["deal"]["title"] == "Quiet big deal" and payload["data"]["priority"] == "critical"
    assert headers["webhook-id"] == headers["Idempotency-Key"]
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "QUJD" * 8).verify(body, headers)  # another secret does not verify


def test_webhook_retries_with_backoff_and_the_same_id(critical, receiver):
    WebhookEndpoint.objects.create(workspace=critical.workspace, url=receiver.url + "/hook")
    receiver.statuses = [503]
    monitors_run(workspace=critical.workspace, as_of=NOW)
    now = timezone.now()
    outbox.deliver_due(now=now)
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.next_attempt_at == now + outbox.backoff(1)
    outbox.deliver_due(now=now + timedelta(seconds=5))  # not due yet
    assert len(receiver.requests) == 1
    outbox.deliver_due(now=now + timedelta(minutes=1))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and len(receiver.requests) == 2
    assert receiver.requests[0][1]["webhook-id"] == receiver.requests[1][1]["webhook-id"]


def test_only_one_worker_claims_a_delivery(critical, receiver):
    WebhookEndpoint.objects.create(workspace=critical.workspace, url=receiver.url + "/hook")
    monitors_run(workspace=critical.workspace, as_of=NOW)
    delivery = Delivery.objects.get()
    now = timezone.now()
    assert outbox.claim(delivery.id, now) is True
    assert outbox.claim(delivery.id, now) is False
    assert outbox.deliver_one(delivery.id, now) is None
    assert receiver.requests == []


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1/hook", "https://10.0.0.8/hook", "https://169.254.169.254/latest", "https://[::1]/x"]
)
def test_private_loopback_and_link_local_destinations_are_refused(url):
    with pytest.raises(RefusedDestination):
        check_destination(url)


def test_refused_at_delivery_time_without_the_loopback_setting(critical, receiver):
    WebhookEndpoint.objects.create(workspace=critical.workspace, url=receiver.url.replace("127.0.0.1", "localhost"))
    monitors_run(workspace=critical.workspace, as_of=NOW)
    with override_settings(ALERTS_ALLOW_LOOPBACK_URLS=False):
        outbox.deliver_due()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and "private or local" in delivery.last_error
    assert receiver.requests == []


def test_slack_gets_critical_alerts_once(critical, receiver):
    row = alert_settings_get(workspace=critical.workspace)
    row.slack_webhook_url, row.slack_enabled = receiver.url + "/services/T0/B0/X", True
    row.save()
    monitors_run(workspace=critical.workspace, as_of=NOW)
    outbox.deliver_due()
    outbox.deliver_due()
    assert Alert.objects.filter(priority=Priority.CRITICAL).count() == 1
    assert len(receiver.requests) == 1
    path, _headers, body = receiver.requests[0]
    message = json.loads(body)
    assert path == "/services/T0/B0/X" and "Critical" in message["text"] and "Quiet big deal" in message["text"]
    assert message["blocks"][0]["type"] == "section"


def test_deal_events_reach_endpoints_that_asked_for_them_once(critical, receiver):
    from alerts.tasks import on_deals_changed
    from crm.models import Deal

    endpoint = WebhookEndpoint.objects.create(
        workspace=critical.workspace, url=receiver.url + "/deals", send_alert_events=False, send_deal_events=True
    )
    deal = Deal.objects.get(title="Quiet big deal")
    on_deals_changed(critical.workspace.id, [deal.id])
    on_deals_changed(critical.workspace.id, [deal.id])  # the same change again: nothing new
    assert len(receiver.requests) == 1
    _, headers, body = receiver.requests[0]
    payload = Webhook(endpoint.secret).verify(body, headers)
    assert payload["type"] == "deal.updated" and payload["data"]["title"] == "Quiet big deal"


def test_a_deal_change_sends_its_own_events_and_leaves_a_backlog_to_the_bulk_sender(critical, receiver):
    # The handler runs on the interactive queue: a backlog (an import's thousands of events) must not hold it.
    from alerts.tasks import on_deals_changed
    from crm.models import Deal

    endpoint = WebhookEndpoint.objects.create(
        workspace=critical.workspace, url=receiver.url + "/deals", send_alert_events=False, send_deal_events=True
    )
    backlog = [
        Delivery(
            workspace=critical.workspace,
            channel="webhook",
            endpoint=endpoint,
            event_type="deal.updated",
            idempotency_key=f"webhook:{endpoint.uuid}:deal.updated:backlog-{i}",
            payload={"type": "deal.updated", "data": {"title": f"Imported {i}"}},
        )
        for i in range(5)
    ]
    outbox.enqueue(backlog)
    deal = Deal.objects.get(title="Quiet big deal")
    on_deals_changed(critical.workspace.id, [deal.id])

    assert [json.loads(body)["data"]["title"] for _, _, body in receiver.requests] == ["Quiet big deal"]
    assert Delivery.objects.filter(idempotency_key__contains="backlog", status=DeliveryStatus.PENDING).count() == 5
    outbox.deliver_due()  # the bulk sender
    assert len(receiver.requests) == 6


@pytest.mark.django_db(transaction=True)  # a worker's autocommit connection, which can be closed and opened again
def test_a_webhook_sent_while_the_database_restarts_is_recorded_once_it_is_back(critical, receiver):
    """The send succeeded, then the database went away for a moment: the outcome is written when it is back, so the
    row is not left "sending" (retried after the lease: the same webhook twice)."""
    from django.db import OperationalError, connection

    WebhookEndpoint.objects.create(workspace=critical.workspace, url=receiver.url + "/hook")
    monitors_run(workspace=critical.workspace, as_of=NOW)
    failures = []

    def database_restarting(execute, sql, params, many, context):
        if sql.startswith('UPDATE "alerts_delivery"') and len(failures) < 2 and "sent_at" in sql:
            failures.append(sql)
            raise OperationalError("terminating connection due to administrator command")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(database_restarting):
        outbox.deliver_due()
    assert len(failures) == 2 and len(receiver.requests) == 1
    assert Delivery.objects.get().status == DeliveryStatus.SENT
    outbox.deliver_due(now=timezone.now() + outbox.LEASE + timedelta(minutes=1))
    assert len(receiver.requests) == 1
