"""Outbound HTTP for Slack and webhooks, refusing anything but public addresses on ports 443 and 8443.

The host is resolved at delivery time, every address is checked (and an IPv4 address wrapped in an IPv6 one —
NAT64, 6to4, Teredo, IPv4-mapped or -compatible — is unwrapped and checked again), and the request goes to the
checked address (Host header and TLS SNI keep the name), so a DNS answer cannot change between check and use.
Each delivery has an overall deadline (connect, send, headers and body together) and reads at most
RESPONSE_BYTE_CAP bytes of the answer, so a slow or chatty receiver costs a bounded amount of a worker's time.
Loopback (any port, plain http) is allowed only with `settings.ALERTS_ALLOW_LOOPBACK_URLS` (the tests' receivers).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings

from alerts.delivery.errors import DeliveryError

ALLOWED_PORTS = frozenset({443, 8443})
RESPONSE_BYTE_CAP = 64 * 1024
DEFAULT_DEADLINE_SECONDS = 10.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Ranges `is_global` lets through on some Python versions, or that no webhook receiver lives in.
_REFUSED_NETWORKS = [
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "192.0.0.0/24",  # IETF protocol assignments (192.0.0.8 and friends)
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/96",  # IPv4-compatible (deprecated); also :: and ::1
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",
        "2001::/23",  # IETF protocol assignments, Teredo included
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",  # site-local (deprecated, still routed inside some networks)
        "ff00::/8",
    )
]
_NAT64 = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48")]
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class RefusedDestination(DeliveryError):
    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass(frozen=True)
class Answer:
    status_code: int
    text: str  # at most RESPONSE_BYTE_CAP bytes of the body, decoded


def _allow_loopback() -> bool:
    return bool(getattr(settings, "ALERTS_ALLOW_LOOPBACK_URLS", False))


def _deadline_seconds() -> float:
    return float(getattr(settings, "ALERTS_DELIVERY_DEADLINE_SECONDS", DEFAULT_DEADLINE_SECONDS))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, both Teredo ends)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    if ip in _IPV4_COMPATIBLE or any(ip in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _is_public(ip: IPAddress) -> bool:
    if not ip.is_global or ip.is_multicast or ip.is_link_local or ip.is_loopback or ip.is_private:
        return False
    if ip.is_reserved or ip.is_unspecified or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local):
        return False
    return not any(ip.version == net.version and ip in net for net in _REFUSED_NETWORKS)


def _is_loopback(ip: IPAddress) -> bool:
    inner = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else []
    return ip.is_loopback or any(v4.is_loopback for v4 in inner)


def address_allowed(ip: IPAddress) -> bool:
    """True for a public address whose embedded IPv4 addresses (if any) are public too."""
    if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)):
        # The wrapper ranges themselves (6to4, Teredo, ::/96) are not "global"; what they carry decides.
        return all(_is_public(v4) for v4 in inner) and not ip.is_site_local and not ip.is_link_local
    return _is_public(ip)


def check_destination(url: str) -> tuple[str, str]:
    """(scheme, the address to connect to) for a URL we may call; RefusedDestination otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise RefusedDestination(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedDestination(f"not a valid port in {url!r}") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DeliveryError(f"cannot resolve {parts.hostname}: {exc}") from None
    addresses = {str(info[4][0]) for info in infos}
    local_test_receiver = _allow_loopback()
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if local_test_receiver and _is_loopback(ip):
            continue
        local_test_receiver = False
        if not address_allowed(ip):
            raise RefusedDestination(f"{parts.hostname} resolves to {ip}, a private or local address")
    if not local_test_receiver:
        if parts.scheme != "https":
            raise RefusedDestination("webhook URLs must use https")
        if port not in ALLOWED_PORTS:
            raise RefusedDestination(f"webhook URLs must use port 443 or 8443, not {port}")
    return parts.scheme, sorted(addresses)[0]


def allowed_port(url: str) -> bool:
    """Whether the URL's port (443 when none is given) is one we deliver to; forms check this early."""
    try:
        port = urlsplit(url).port
    except ValueError:
        return False
    return (port or 443) in ALLOWED_PORTS


class _Watchdog:
    """Shuts the connection's socket when the deadline passes, ending any read or write blocked on it."""

    def __init__(self, seconds: float) -> None:
        self.sockets: list[socket.socket] = []
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                self.sockets.append(sock)
                if self.fired:
                    self._fire()

    def _fire(self) -> None:
        self.fired = True
        for sock in self.sockets:
            with contextlib.suppress(OSError):  # already closed: nothing left to stop
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _read_capped(response: httpx.Response, deadline: float) -> bytes:
    body = bytearray()
    for chunk in response.iter_raw():
        body.extend(chunk[: RESPONSE_BYTE_CAP - len(body)])
        if len(body) >= RESPONSE_BYTE_CAP or time.monotonic() > deadline:
            break  # enough to judge the answer; the rest is not ours to download
    return bytes(body)


def post_json(url: str, body: str, headers: dict[str, str]) -> Answer:
    """POST `body` to `url` pinned to its checked address; DeliveryError on failure (retryable or not)."""
    scheme, address = check_destination(url)
    parts = urlsplit(url)
    host_for_url = f"[{address}]" if ":" in address else address
    netloc = host_for_url + (f":{parts.port}" if parts.port else "")
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    budget = _deadline_seconds()
    deadline = time.monotonic() + budget
    host_header = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    timeout = httpx.Timeout(budget, connect=min(5.0, budget))
    with _Watchdog(budget) as watchdog:
        extensions: dict[str, Any] = {"trace": watchdog.trace}
        if scheme == "https":
            extensions["sni_hostname"] = parts.hostname
        try:
            with (
                httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
                client.stream(
                    "POST",
                    pinned,
                    content=body.encode(),
                    headers={
                        "Content-Type": "application/json",
                        "Host": host_header,
                        "Accept-Encoding": "identity",  # the byte cap counts what we read, never a zip bomb
                        **headers,
                    },
                    extensions=extensions,
                ) as response,
            ):
                content = _read_capped(response, deadline)
        except httpx.HTTPError as exc:
            if watchdog.fired or time.monotonic() >= deadline:
                raise DeliveryError(f"no complete answer within {budget:g} s") from None
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    text = content.decode("utf-8", errors="replace")
    if response.status_code == 429:
        retry_after = response.headers.get("Retry-After", "")
        raise DeliveryError("rate limited", retry_after=float(retry_after) if retry_after.isdigit() else None)
    if response.status_code >= 500 or response.status_code == 408:
        raise DeliveryError(f"HTTP {response.status_code}")
    if response.status_code >= 300:
        raise DeliveryError(f"HTTP {response.status_code}: {text[:200]}", permanent=True)
    return Answer(status_code=response.status_code, text=text)
