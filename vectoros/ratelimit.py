"""Rate limits kept in the shared cache (PostgreSQL's cache table by default, Redis with REDIS_URL).

Every web and worker process counts in the same place, so a limit holds across processes and hosts. Limits
are fixed windows named in `settings.VECTOROS_RATE_LIMITS` ("amount/seconds"). Going over one answers
429 with `Retry-After` (the seconds until the window ends): web views raise `RateLimited`, which
`RateLimitMiddleware` turns into the 429 page; the API raises its own 429 and the middleware adds the
header. Sign-in, sign-up and password reset are counted by allauth (ACCOUNT_RATE_LIMITS, same cache).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# Seconds a 429 without a known window asks the client to wait (allauth's own 429 pages).
DEFAULT_RETRY_AFTER = 60


@dataclass(frozen=True)
class Limit:
    amount: int
    seconds: int


def limit_named(name: str) -> Limit:
    amount, seconds = settings.VECTOROS_RATE_LIMITS[name].split("/")
    return Limit(int(amount), int(seconds))


class RateLimited(Exception):
    def __init__(self, retry_after: int, what: str = "") -> None:
        super().__init__(f"Too many requests{': ' + what if what else ''}. Try again in {retry_after} s.")
        self.retry_after = retry_after


def hit(name: str, key: str) -> int | None:
    """Count one use of limit `name` by `key`: None while within the limit, else the seconds to wait."""
    limit = limit_named(name)
    now = time.time()
    window = int(now // limit.seconds)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    cache_key = f"vos:rl:{name}:{window}:{digest}"
    cache.add(cache_key, 0, timeout=limit.seconds + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=limit.seconds + 1)
        count = 1
    if count <= limit.amount:
        return None
    return max(1, math.ceil((window + 1) * limit.seconds - now))


def enforce(request: HttpRequest | None, name: str, key: str, what: str = "") -> None:
    """`hit`, raising `RateLimited` when over; the request remembers the wait for the 429's Retry-After."""
    retry_after = hit(name, key)
    if retry_after is not None:
        if request is not None:
            request.retry_after = retry_after  # type: ignore[attr-defined]  # read by RateLimitMiddleware
        raise RateLimited(retry_after, what)


def client_ip(request: HttpRequest) -> str:
    """The client's own address: TRUSTED_PROXY_COUNT hops from the right of X-Forwarded-For, else REMOTE_ADDR.

    Entries left of those our proxies appended are whatever the client sent, so they are never trusted.
    """
    remote = request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 (a placeholder address, not a bind)
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()]
    if hops <= 0 or len(forwarded) < hops:
        return remote
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def too_many_requests(request: HttpRequest, retry_after: int | None = None, message: str = "") -> HttpResponse:
    retry_after = retry_after or getattr(request, "retry_after", None) or DEFAULT_RETRY_AFTER
    context = {"retry_after": retry_after, "message": message}
    response = render(request, "429.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def handler429(request: HttpRequest) -> HttpResponse:
    """allauth's 429 (sign-up, password reset, too many sign-ins from one address): our page, with Retry-After."""
    return too_many_requests(request)


class RateLimitMiddleware:
    """A `RateLimited` raised by a view becomes the 429 page; every 429 carries `Retry-After`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 429 and not response.has_header("Retry-After"):
            response["Retry-After"] = str(getattr(request, "retry_after", None) or DEFAULT_RETRY_AFTER)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RateLimited):
            return too_many_requests(request, exception.retry_after, str(exception))
        return None
