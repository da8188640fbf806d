"""Settings for `manage.py lintmigrations` (django-migration-linter, a dev dependency production never installs).

The rule it checks, written out in docs/deploy.md: a migration must not break the version still serving while it
runs (no dropped or renamed columns or tables, no new NOT NULL column without a database default). The migrations
listed in GRANDFATHERED shipped before the linter and each ran with every process stopped; new ones are linted.
"""

from vectoros.settings import *  # noqa: F403
from vectoros.settings import INSTALLED_APPS, LOGGING

OUR_APPS = [
    "tenancy", "crm", "forecasting", "scoring", "similarity", "alerts", "ops", "audit", "customers", "sync", "capture",
    "collab", "insights",
]  # fmt: skip
GRANDFATHERED = [
    "0003_encrypted_secrets",  # alerts
    "0002_tracked_fields_after_merge",  # audit
    "0003_activity_created_at",  # audit
    "0005_forecast_category_next_step",  # crm
    "0008_activity_created_at",  # crm
    "0002_driftreport_summary",  # scoring
    "0004_invitation_token_hash",  # tenancy
    "0005_api_key_scope_expiry",  # tenancy
    "0006_sso_client_secret_encrypted",  # tenancy
]
INSTALLED_APPS = [*INSTALLED_APPS, "django_migration_linter"]
MIGRATION_LINTER_OPTIONS = {"include_apps": OUR_APPS, "ignore_name": GRANDFATHERED, "no_cache": True}
_loggers: dict[str, object] = dict(LOGGING["loggers"])  # type: ignore[call-overload]
LOGGING = {**LOGGING, "loggers": {**_loggers, "django_migration_linter": {"level": "WARNING"}}}  # not a line each
