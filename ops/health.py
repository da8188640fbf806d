"""Readiness checks: can this process serve? Database, broker and migrations, each a name → error (or None)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_q.brokers import get_broker

logger = logging.getLogger(__name__)
_migrations_seen_applied = False  # once all are applied they stay so for this process: the check is skipped


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        connection.close()  # the next check (or request) opens a fresh connection
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def check_broker() -> str | None:
    """The django-q2 broker answers (Redis with REDIS_URL; otherwise it is the database, checked above)."""
    if not settings.REDIS_URL:
        return None
    try:
        if not get_broker().ping():
            return "the broker did not answer"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def check_migrations() -> str | None:
    global _migrations_seen_applied
    if _migrations_seen_applied:
        return None
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    if plan:
        return f"{len(plan)} migration(s) not applied, e.g. {plan[0][0].app_label}.{plan[0][0].name}"
    _migrations_seen_applied = True
    return None


def readiness() -> dict[str, str | None]:
    checks = {"database": check_database(), "broker": check_broker()}
    checks["migrations"] = check_migrations() if checks["database"] is None else "database unavailable"
    return checks
