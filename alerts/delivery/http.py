"""Outbound HTTP for Slack and webhooks, refusing private, loopback and link-local destinations.

The host is resolved at delivery time, every address is checked, and the request goes to the checked
address (Host header and TLS SNI keep the name), so a DNS answer cannot change between check and use.
Loopback is allowed only with `settings.ALERTS_ALLOW_LOOPBACK_URLS` (the tests' local receivers).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings

from alerts.delivery.errors import DeliveryError

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class RefusedDestination(DeliveryError):
    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


def _allow_loopback() -> bool:
    return bool(getattr(settings, "ALERTS_ALLOW_LOOPBACK_URLS", False))


def check_destination(url: str) -> tuple[str, str]:
    """(scheme, the address to connect to) for a URL we may call; RefusedDestination otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise RefusedDestination(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DeliveryError(f"cannot resolve {parts.hostname}: {exc}") from None
    addresses = {str(info[4][0]) for info in infos}
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if ip.is_loopback and _allow_loopback():
            continue
        if not ip.is_global or ip.is_multicast or ip.is_link_local or ip.is_loopback or ip.is_private:
            raise RefusedDestination(f"{parts.hostname} resolves to {ip}, a private or local address")
    if parts.scheme != "https" and not _allow_loopback():
        raise RefusedDestination("webhook URLs must use https")
    return parts.scheme, sorted(addresses)[0]


def post_json(url: str, body: str, headers: dict[str, str]) -> httpx.Response:
    """POST `body` to `url` pinned to its checked address; DeliveryError on failure (retryable or not)."""
    scheme, address = check_destination(url)
    parts = urlsplit(url)
    host_for_url = f"[{address}]" if ":" in address else address
    netloc = host_for_url + (f":{parts.port}" if parts.port else "")
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    extensions = {"sni_hostname": parts.hostname} if scheme == "https" else {}
    host_header = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    try:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
            response = client.post(
                pinned,
                content=body.encode(),
                headers={"Content-Type": "application/json", "Host": host_header, **headers},
                extensions=extensions,
            )
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    if response.status_code == 429:
        retry_after = response.headers.get("Retry-After", "")
        raise DeliveryError("rate limited", retry_after=float(retry_after) if retry_after.isdigit() else None)
    if response.status_code >= 500 or response.status_code == 408:
        raise DeliveryError(f"HTTP {response.status_code}")
    if response.status_code >= 300:
        raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}", permanent=True)
    return response
