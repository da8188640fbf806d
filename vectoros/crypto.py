"""Secrets stored in the database (webhook signing secrets, Slack URLs) are encrypted with Fernet.

Keys come from VECTOROS_ENCRYPTION_KEYS, newest first: the newest encrypts, all of them decrypt, so a new key is
put in front, `manage.py rotate_encryption_keys` re-encrypts every value with it, and then the old key can go.
With DEBUG on and no keys (the local demo), a key is derived from SECRET_KEY, with a warning.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

logger = logging.getLogger(__name__)


@cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        logger.warning(
            "VECTOROS_ENCRYPTION_KEYS is not set: secrets are encrypted with a key derived from SECRET_KEY "
            "(acceptable for the local demo only)"
        )
        derived = base64.urlsafe_b64encode(hashlib.sha256(b"vectoros-field-encryption:" + secret_key.encode()).digest())
        return MultiFernet([Fernet(derived)])
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with any key in VECTOROS_ENCRYPTION_KEYS "
            "(was a key removed before `manage.py rotate_encryption_keys` ran?)"
        ) from None


class EncryptedTextField(models.TextField):
    """Text encrypted at rest: Python sees the plain value, the database only a Fernet token ("" stays "").

    Each encryption is different, so the column cannot be filtered or made unique on.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return decrypt(value) if value else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
