"""`Idempotency-Key` on API POSTs: the first answer is kept for 24 hours and replayed to retries of the same request.

A key belongs to one API key. The same key with a different method, path or body is a conflict, and so is a retry
while the first request is still running.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenancy.models import ApiKey, IdempotentRequest

KEEP_FOR = timedelta(hours=24)


def idempotency_claim(*, api_key: ApiKey, key: str, fingerprint: str) -> tuple[IdempotentRequest, bool]:
    """The stored request for this key, or a new running one; the bool says whether this call created it."""
    IdempotentRequest.objects.filter(api_key=api_key, created_at__lt=timezone.now() - KEEP_FOR).delete()
    try:
        with transaction.atomic():
            return IdempotentRequest.objects.create(api_key=api_key, key=key, fingerprint=fingerprint), True
    except IntegrityError:
        return IdempotentRequest.objects.get(api_key=api_key, key=key), False


def idempotency_record(*, request: IdempotentRequest, status: int, content_type: str, body: bytes) -> None:
    """Keep the first answer so that retries get it again."""
    IdempotentRequest.objects.filter(pk=request.pk).update(status=status, content_type=content_type, body=body)


def idempotency_release(*, request: IdempotentRequest) -> None:
    """Forget a claim whose request failed on our side (5xx): a retry runs it again."""
    IdempotentRequest.objects.filter(pk=request.pk).delete()
