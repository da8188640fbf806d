"""Web Push (RFC 8030 with VAPID, RFC 8292, and aes128gcm, RFC 8291) through `pywebpush`.

The VAPID key pair comes from `settings.VAPID_PRIVATE_KEY` (PEM or base64url raw), or is generated once into the
data folder (`vapid_private.pem`), so a laptop needs no setup and a server keeps one identity across restarts.
A push endpoint is a URL a browser handed us, so before each send its host is resolved and every address must
be public (the same rule as alerts' webhooks); loopback passes only with `settings.COLLAB_PUSH_ALLOW_LOOPBACK_URLS`
(the tests' push service). pywebpush sends through `requests`, which resolves the name again: a DNS answer could
change between check and send; push services are a few well-known hosts, so this is accepted and noted.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from py_vapid import Vapid, b64urlencode
from pywebpush import WebPushException, webpush

from alerts.delivery.http import address_allowed, embedded_ipv4

TIMEOUT_SECONDS = 10.0
_lock = threading.Lock()


class PushError(Exception):
    def __init__(self, message: str, *, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone  # the subscription expired or was revoked: forget it


def _key_file() -> Path:
    return Path(settings.DATA_DIR) / "vapid_private.pem"


@cache
def vapid() -> Vapid:
    """The server's VAPID key (settings, else the data folder's file, created on first use)."""
    configured = getattr(settings, "VAPID_PRIVATE_KEY", "")
    if configured:
        return Vapid.from_string(private_key=configured.strip())
    path = _key_file()
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = Vapid()
            fresh.generate_keys()
            tmp = path.with_suffix(".tmp")
            fresh.save_key(str(tmp))
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)  # two processes racing both write a valid key; the last one wins for both
    return Vapid.from_file(private_key_file=str(path))


def application_server_key() -> str:
    """The public key a browser subscribes with (`applicationServerKey`), base64url without padding."""
    raw = vapid().public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64urlencode(raw)


def _allow_loopback() -> bool:
    return bool(getattr(settings, "COLLAB_PUSH_ALLOW_LOOPBACK_URLS", False))


def check_endpoint(url: str) -> None:
    """PushError unless `url` is https to public addresses (or plain loopback when the setting allows it)."""
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise PushError("not an http(s) push endpoint", gone=True)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise PushError("not a valid port", gone=True) from None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PushError(f"cannot resolve {parts.hostname}: {exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if _allow_loopback() and all(_is_loopback(ip) for ip in addresses):
        return
    if parts.scheme != "https":
        raise PushError("push endpoints must use https", gone=True)
    for ip in addresses:
        if not address_allowed(ip):
            raise PushError(f"{parts.hostname} resolves to {ip}, a private or local address", gone=True)


def _is_loopback(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    inner = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else []
    return ip.is_loopback or any(v4.is_loopback for v4 in inner)


def subject() -> str:
    configured = getattr(settings, "VAPID_SUBJECT", "")
    if configured:
        return str(configured)
    address = settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">").strip()
    return f"mailto:{address}"


def send(subscription_info: Mapping[str, object], payload: Mapping[str, object], *, ttl: int = 86400) -> int:
    """Encrypt and POST one message; the push service's status code, or PushError."""
    check_endpoint(str(subscription_info["endpoint"]))
    try:
        response = webpush(
            subscription_info,
            data=json.dumps(payload),
            vapid_private_key=vapid(),
            vapid_claims={"sub": subject()},
            content_encoding="aes128gcm",
            timeout=TIMEOUT_SECONDS,
            ttl=ttl,
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        raise PushError(
            f"push refused: HTTP {status}" if status else str(exc)[:200], gone=status in {404, 410}
        ) from None
    except Exception as exc:  # requests' connection errors, a bad key in a subscription: this send failed
        raise PushError(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    return int(getattr(response, "status_code", 201))
