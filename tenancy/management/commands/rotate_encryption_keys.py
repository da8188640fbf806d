"""`manage.py rotate_encryption_keys`: re-encrypt every encrypted value with the newest key.

Put the new key first in VECTOROS_ENCRYPTION_KEYS (keep the old ones after it), run this, then drop the old keys.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from vectoros.crypto import EncryptedTextField


class Command(BaseCommand):
    help = "Re-encrypt stored secrets (webhook secrets, Slack URLs) with the newest VECTOROS_ENCRYPTION_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in apps.get_models():
            fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
            for field in fields:
                count = 0
                with transaction.atomic():
                    # Read decrypts with whichever key fits; the write encrypts with the newest. A key rotation is
                    # storage maintenance, not a change of the value, so it goes straight to the rows.
                    rows = model._default_manager.select_for_update().exclude(**{field.attname: ""})
                    for pk, value in rows.values_list("pk", field.attname):
                        model._default_manager.filter(pk=pk).update(**{field.attname: value})
                        count += 1
                total += count
                self.stdout.write(f"{model._meta.label}.{field.name}: {count} re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"{total} value(s) now encrypted with the newest key."))
