"""A Web Push service on 127.0.0.1 for the collab tests, written from RFC 8030 (push), RFC 8292 (VAPID) and
RFC 8291/8188 (aes128gcm message encryption).

Each test subscription is a browser's: an ECDH P-256 key pair and a 16-byte auth secret generated here; the
service checks what a real one checks (the `Authorization: vapid t=…, k=…` JWT signed ES256 by the key `k`, its
`aud` the endpoint's origin, an `exp` within 24 hours and a `sub`; `Content-Encoding: aes128gcm`; a `TTL`), then
decrypts the body with the subscription's private key, as the browser would, and keeps the JSON it finds.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserSubscription:
    """What `pushManager.subscribe()` gives a page: the endpoint and the keys (the private one stays here)."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    def as_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)}}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    message: dict[str, Any] | None  # the decrypted JSON
    problems: list[str] = field(default_factory=list)


def verify_vapid(header: str, audience: str) -> list[str]:
    """What is wrong with an RFC 8292 Authorization header (empty when it is right)."""
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "vapid":
        return [f"scheme {scheme!r} is not vapid"]
    parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
    token, key = parts.get("t", ""), parts.get("k", "")
    try:
        signing_input, _, signature = token.rpartition(".")
        head, claims = (json.loads(unb64url(p)) for p in signing_input.split("."))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        raw = unb64url(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature) as exc:
        return [f"bad VAPID token: {type(exc).__name__}"]
    problems = []
    if head.get("alg") != "ES256":
        problems.append(f"alg {head.get('alg')!r}")
    if claims.get("aud") != audience:
        problems.append(f"aud {claims.get('aud')!r} is not {audience!r}")
    if not time.time() < int(claims.get("exp", 0)) <= time.time() + 24 * 3600:
        problems.append("exp not within 24 hours")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        problems.append("no sub")
    return problems


class PushService:
    def __init__(self, status: int = 201) -> None:
        self.status = status
        self.subscriptions: dict[str, BrowserSubscription] = {}
        self.received: list[Received] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                service.receive(self.path, dict(self.headers.items()), body)
                self.send_response(service.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PushService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def subscribe(self) -> BrowserSubscription:
        path = f"/push/{b64url(os.urandom(12))}"
        sub = BrowserSubscription(self.origin + path, ec.generate_private_key(ec.SECP256R1()), os.urandom(16))
        self.subscriptions[path] = sub
        return sub

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        problems = verify_vapid(lower.get("authorization", ""), self.origin)
        if lower.get("content-encoding") != "aes128gcm":
            problems.append(f"content-encoding {lower.get('content-encoding')!r}")
        if "ttl" not in lower:
            problems.append("no TTL")
        message = None
        sub = self.subscriptions.get(path)
        if sub is None:
            problems.append("unknown subscription")
        else:
            try:
                plain = http_ece.decrypt(body, private_key=sub.private_key, auth_secret=sub.auth, version="aes128gcm")
                message = json.loads(plain)
            except Exception as exc:  # any failure to decrypt is what the test reports
                problems.append(f"cannot decrypt: {type(exc).__name__}: {exc}")
        self.received.append(Received(path, headers, message, problems))
