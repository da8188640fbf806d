"""HTTP clients for the CRMs' REST APIs, on plain httpx.

Why not the vendors' packages: simple-salesforce has no refresh-token grant against a chosen token URL and
hides `nextRecordsUrl`, so a run cannot keep its own cursor; hubspot-api-client retries on its own terms and
turns 429s into exceptions without `Retry-After`. Both would have to be wrapped so tightly (token refresh once
on 401, backoff that honours the vendor's hints, resumable paging) that little of them would be left. httpx is
already a dependency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings


class CrmError(Exception):
    """A call that failed; the run records it and the next run tries again."""


class AuthBroken(CrmError):
    """The CRM refused our credentials for good (revoked or expired refresh token): stop until an admin reconnects."""


class RateLimited(CrmError):
    """The CRM still answers "too many requests" after every backoff: the run stops where it is, loses nothing."""


@dataclass
class Backoff:
    """Waits between tries: the vendor's Retry-After when it gives one, else doubling from `first` seconds."""

    attempts: int = 5
    first: float = 1.0
    cap: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int, retry_after: float | None = None) -> None:
        scale = float(getattr(settings, "SYNC_BACKOFF_SCALE", 1.0))  # tests shrink the waits, never skip them
        seconds = retry_after if retry_after is not None else self.first * 2**attempt
        self.sleep(min(seconds, self.cap) * scale)


def retry_after_seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
