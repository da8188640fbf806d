"""Webhook and Slack delivery cannot be pointed inside the network (IPv4 wrapped in IPv6, site-local, reserved
ranges, odd ports), and a slow or chatty receiver costs a bounded time and memory without stalling others."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings
from django.urls import reverse

from alerts.delivery import outbox
from alerts.delivery.errors import DeliveryError
from alerts.delivery.http import RESPONSE_BYTE_CAP, RefusedDestination, check_destination, post_json
from alerts.models import Channel, Delivery, DeliveryStatus, WebhookEndpoint
from tests.factories import WorkspaceFactory


@pytest.mark.parametrize(
    "url",
    [
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data",  # NAT64 of 169.254.169.254, the cloud metadata address
        "https://[::7f00:1]/hook",  # IPv4-compatible 127.0.0.1
        "https://[::ffff:a9fe:a9fe]/hook",  # IPv4-mapped metadata address
        "https://[2002:a9fe:a9fe::1]/hook",  # 6to4 of 169.254.169.254
        "https://[2002:7f00:1::1]/hook",  # 6to4 of 127.0.0.1
        "https://[2002:0a00:0001::1]/hook",  # 6to4 of 10.0.0.1
        "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",  # Teredo whose client is 127.0.0.1
        "https://[fec0::1]/hook",  # site-local
        "https://192.0.0.8/hook",  # IETF protocol assignments
        "https://100.64.0.1/hook",  # carrier-grade NAT
        "https://198.18.0.1/hook",  # benchmarking
        "https://0.0.0.0/hook",
        "https://[::]/hook",
        "https://2130706433/hook",  # 127.0.0.1 written as one number
    ],
)
def test_addresses_that_reach_inside_are_refused(url: str) -> None:
    with (
        override_settings(ALERTS_ALLOW_LOOPBACK_URLS=False),
        pytest.raises(RefusedDestination, match="private or local"),
    ):
        check_destination(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hook",
        "https://93.184.215.14:8443/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://[64:ff9b::5db8:d70e]/hook",  # NAT64 of a public address is a public address
    ],
)
def test_public_addresses_on_443_and_8443_are_allowed(url: str) -> None:
    with override_settings(ALERTS_ALLOW_LOOPBACK_URLS=False):
        scheme, address = check_destination(url)
    assert scheme == "https" and address in url


@pytest.mark.parametrize(
    "url", ["https://93.184.215.14:8080/hook", "https://93.184.215.14:22/", "https://93.184.215.14:80/"]
)
def test_ports_other_than_443_and_8443_are_refused(url: str) -> None:
    with (
        override_settings(ALERTS_ALLOW_LOOPBACK_URLS=False),
        pytest.raises(RefusedDestination, match="port 443 or 8443"),
    ):
        check_destination(url)


def test_plain_http_is_refused() -> None:
    with override_settings(ALERTS_ALLOW_LOOPBACK_URLS=False), pytest.raises(RefusedDestination, match="https"):
        check_destination("http://93.184.215.14/hook")


class _Chatty(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"x" * (4 * RESPONSE_BYTE_CAP))

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def chatty_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Chatty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with override_settings(ALERTS_ALLOW_LOOPBACK_URLS=True):
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_an_answer_is_read_up_to_the_byte_cap_only(chatty_url: str) -> None:
    answer = post_json(chatty_url, "{}", {})
    assert answer.status_code == 200
    assert len(answer.text) == RESPONSE_BYTE_CAP


class _Trickle:
    """Answers a status line, then one header line every 0.1 s: no single read ever times out."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.stop = threading.Event()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(300):
                    if self.stop.wait(0.1):
                        return
                    conn.sendall(b"X-Slow: a\r\n")
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def trickle() -> Iterator[_Trickle]:
    server = _Trickle()
    with override_settings(ALERTS_ALLOW_LOOPBACK_URLS=True, ALERTS_DELIVERY_DEADLINE_SECONDS=0.6):
        yield server
    server.close()


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_deadline(trickle: _Trickle) -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=r"no complete answer within 0.6 s") as refused:
        post_json(trickle.url, "{}", {})
    assert time.monotonic() - started < 2.0
    assert not refused.value.permanent  # retried later, with backoff


@pytest.mark.django_db
def test_a_slow_endpoint_does_not_stall_another_workspaces_deliveries(trickle: _Trickle, receiver_url: str) -> None:
    slow_ws, fast_ws = WorkspaceFactory(slug="slow"), WorkspaceFactory(slug="fast")
    slow = WebhookEndpoint.objects.create(workspace=slow_ws, url=trickle.url)
    fast = WebhookEndpoint.objects.create(workspace=fast_ws, url=receiver_url)
    for n in range(4):  # queued first: a first-come pass would spend 4 deadlines on them before `fast`
        Delivery.objects.create(
            workspace=slow_ws, channel=Channel.WEBHOOK, endpoint=slow, idempotency_key=f"slow-{n}", payload={"n": n}
        )
    Delivery.objects.create(workspace=fast_ws, channel=Channel.WEBHOOK, endpoint=fast, idempotency_key="fast-0")

    started = time.monotonic()
    counts = outbox.deliver_due()
    elapsed = time.monotonic() - started

    assert Delivery.objects.get(idempotency_key="fast-0").status == DeliveryStatus.SENT
    assert counts == {"sent": 1, "pending": 1, "postponed": 3}
    slow_rows = Delivery.objects.filter(endpoint=slow)
    assert sorted(slow_rows.values_list("attempts", flat=True)) == [0, 0, 0, 1]  # one try, the rest wait
    assert set(slow_rows.values_list("status", flat=True)) == {DeliveryStatus.PENDING}
    assert elapsed < 2.5  # one deadline (0.6 s), not four


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.mark.django_db
def test_the_forms_refuse_other_ports_before_anything_is_saved(personas) -> None:
    client = personas.client_for(personas.owner)
    hooks = reverse("alerts:webhooks", args=[personas.workspace.slug])
    refused = client.post(hooks, {"url": "https://example.com:8080/hook", "send_alert_events": "on"})
    assert refused.status_code == 400 and "port 443 or 8443" in refused.content.decode()
    assert client.post(hooks, {"url": "https://example.com:8443/hook", "send_alert_events": "on"}).status_code == 201
    assert list(WebhookEndpoint.objects.values_list("url", flat=True)) == ["https://example.com:8443/hook"]
