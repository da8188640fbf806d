"""VectorOS settings: one file, read from environment variables, zero variables needed on a laptop."""

from __future__ import annotations

import os
import warnings
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import dj_database_url
from csp import constants as csp_constants

from vectoros import embedded_db
from vectoros.env import (
    ConfigError,
    env_bool,
    env_choice,
    env_fernet_keys,
    env_int,
    env_list,
    env_path,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# One thread for the numeric libraries: the machines this runs on have two cores shared by web and worker.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM"):
    os.environ.setdefault(_var, "false" if _var == "TOKENIZERS_PARALLELISM" else "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download a model at run time
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DATA_DIR = env_path("VECTOROS_DATA_DIR", BASE_DIR / ".vectoros")
MODELS_DIR = DATA_DIR / "models"
UPLOADS_DIR = DATA_DIR / "uploads"
MEDIA_ROOT = UPLOADS_DIR

# Production by default: the local demo (`make run`, `make test`) sets DEBUG=true itself.
DEBUG = env_bool("DEBUG", default=False)
LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigError("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "vectoros-insecure-development-key-change-me"  # noqa: S105 (DEBUG only; refused above otherwise)
if not DEBUG and not env_list("ALLOWED_HOSTS", []):
    raise ConfigError("ALLOWED_HOSTS must be set when DEBUG is off (comma-separated host names)")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
# Fernet keys for secrets stored in the database (webhook secrets, Slack URLs), newest first; see vectoros/crypto.py.
ENCRYPTION_KEYS = env_fernet_keys("VECTOROS_ENCRYPTION_KEYS")
if not DEBUG and not ENCRYPTION_KEYS:
    raise ConfigError(
        "VECTOROS_ENCRYPTION_KEYS must be set when DEBUG is off (comma-separated Fernet keys, newest first; "
        'make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{env_int('PORT', 8000, minimum=1, maximum=65535)}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "django_htmx",
    "template_partials",
    "django_q",
    "csp",
    "ninja",  # Swagger UI from ninja's own static files, not a CDN
    "tenancy",
    "crm",
    "forecasting",
    "scoring",
    "similarity",
    "alerts",
    "customers",  # accounts, renewals, churn risk and expansion (issue 16)
]
INSTALLED_APPS += ["django_prometheus", "ops"]  # health, metrics, backup/restore (issue 12)
INSTALLED_APPS += ["pgtrigger", "pghistory", "audit"]  # audit log (database triggers), erasure, retention (issue 11)
INSTALLED_APPS += ["sync"]  # live two-way CRM sync and Zapier-style hooks (issue 14)
INSTALLED_APPS += ["capture"]  # email and calendar capture (issue 15)
INSTALLED_APPS += ["collab", "insights"]  # comments, notifications, tasks (18); recommendations and AI briefs (17)

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "vectoros.ratelimit.RateLimitMiddleware",  # a view's RateLimited is a 429; every 429 has Retry-After
    "ops.middleware.DatabaseUnavailableMiddleware",  # a database restart answers 503 + Retry-After, not 500
]

ROOT_URLCONF = "vectoros.urls"
WSGI_APPLICATION = "vectoros.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenancy.context_processors.workspace",
                "csp.context_processors.nonce",
            ],
        },
    },
]


def _database_from_url(url: str) -> dict[str, Any]:
    """DATABASE_URL as Django's settings, query options (`?sslmode=require`) kept in OPTIONS."""
    try:
        parsed = dict(dj_database_url.parse(url))
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL is not a database URL we can use: {exc}") from None
    if parsed.get("ENGINE") != "django.db.backends.postgresql":
        raise ConfigError(f"DATABASE_URL must be a postgres:// URL, not {url.split(':', 1)[0] or url!r}")
    return parsed


DATABASE_URL = env_str("DATABASE_URL", "")
EMBEDDED_PGDATA = DATA_DIR / "pg"
# Without DATABASE_URL the embedded PostgreSQL is used. Settings only say where it listens; manage.py, wsgi and the
# test setup start it (vectoros.embedded_db.start_for_settings), so importing settings starts nothing.
EMBEDDED_DATABASE = not DATABASE_URL
_default_db = _database_from_url(DATABASE_URL) if DATABASE_URL else embedded_db.connection_settings(EMBEDDED_PGDATA)
DATABASES = {"default": {**_default_db, "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60, minimum=0)}}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # a kept connection is checked first: a database restart is survived
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_choice(
    "ACCOUNT_EMAIL_VERIFICATION", "optional" if DEBUG else "mandatory", ["mandatory", "optional", "none"]
)
if not DEBUG and ACCOUNT_EMAIL_VERIFICATION != "mandatory":
    raise ConfigError("ACCOUNT_EMAIL_VERIFICATION must be mandatory when DEBUG is off (only the local demo skips it)")
ACCOUNT_ADAPTER = "tenancy.adapters.AccountAdapter"
# Who may create an account with a password: "open" (anyone) or "invite-only" (only with an invitation link).
VECTOROS_SIGNUP = env_choice("VECTOROS_SIGNUP", "open" if DEBUG else "invite-only", ["open", "invite-only"])
# allauth counts in the shared cache (CACHES below), keyed on the real client IP (TRUSTED_PROXY_COUNT) and the
# account: ten wrong passwords for one account, from any number of addresses, lock it for 15 minutes (429).
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "30/15m/ip,10/15m/key",
    "signup": "5/h/ip",
    "reset_password": "10/h/ip,3/h/key",
    "reset_password_from_key": "20/h/ip",
    "request_login_code": "20/m/ip,3/m/key",
}
ACCOUNT_LOGOUT_ON_GET = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "VectorOS"
# SSO (tenancy/sso.py): each workspace's identity provider is a SocialApp row; the adapter trusts an IdP's email
# only inside that workspace's verified domains, so signing in by a verified email may reach the existing account.
SOCIALACCOUNT_ADAPTER = "tenancy.adapters.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False

EMAIL_BACKEND = env_choice(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend",
    [f"django.core.mail.backends.{name}.EmailBackend" for name in ("console", "smtp", "filebased", "locmem", "dummy")],
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "VectorOS <vectoros@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"


def _plotly_js_dir() -> Path:
    spec = find_spec("plotly")  # located, not imported: plotly takes a while to import
    if spec is None or spec.origin is None:
        raise ConfigError("the plotly package is missing: run `make install`")
    return Path(spec.origin).parent / "package_data"


# plotly.js comes from the plotly package itself (served at static/vendor/plotly/plotly.min.js), never a CDN.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/plotly", _plotly_js_dir())]
STATIC_ROOT = DATA_DIR / "staticfiles"
# WhiteNoise serves static files from the apps and folders directly (no collectstatic step to forget),
# in every mode: `make run` serves the app with gunicorn, not Django's development server.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Scripts only from our static files (or with the response's nonce); Plotly and htmx set inline styles.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src": [csp_constants.SELF, csp_constants.UNSAFE_INLINE],
        "img-src": [csp_constants.SELF, "data:"],
        "font-src": [csp_constants.SELF],
        "connect-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        # No form-action: single sign-on posts a form whose answer redirects to the workspace's identity
        # provider, an origin known only once the email is typed (browsers apply form-action to redirects).
        "frame-ancestors": [csp_constants.NONE],
    }
}

# Messages live in the session, never in a cookie the browser keeps.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# HTTPS everywhere outside the local demo; `manage.py check --deploy` passes with these defaults.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
# How many reverse proxies in front of the app we trust: with one or more, their X-Forwarded-Proto says whether
# the client used HTTPS, and the client's own IP is that many hops from the right of X-Forwarded-For.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=10)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT  # allauth's own client-IP lookup (tenancy.adapters overrides it)
# Our own limits (vectoros/ratelimit.py), "amount/seconds" per key, counted in the shared cache.
VECTOROS_RATE_LIMITS = {
    "api_key": env_str("RATE_LIMIT_API_KEY", "600/60"),  # requests per API key
    "invitations": env_str("RATE_LIMIT_INVITATIONS", "50/86400"),  # invitations per workspace per day
    "reforecast": "6/60",  # re-forecast button presses per workspace
    "what_if": "30/60",  # what-if scenarios per member
    "retrain": "3/3600",  # retrain button presses per workspace
    "export": "30/3600",  # CSV exports per member
    "ai": env_str("RATE_LIMIT_AI", "20/60"),  # LLM-backed briefs and questions per member
}

# django-q2 with the ORM broker: the worker needs nothing but the database.
Q_CLUSTER = {
    "name": "vectoros",
    "orm": "default",
    "workers": env_int("Q_WORKERS", 1, minimum=1, maximum=16),
    "timeout": env_int("Q_TIMEOUT", 600, minimum=10),
    "retry": env_int("Q_RETRY", 720, minimum=20),
    "max_attempts": 3,
    "catch_up": False,
    "poll": 0.5,
    "ack_failures": True,
    "sync": env_bool("Q_SYNC", default=False),
    # The worker's per-task INFO lines drown what matters.
    "log_level": env_choice("Q_LOG_LEVEL", "WARNING", LOG_LEVELS),
}

# --- Production parts (issue 12): Redis, two job queues, a shared cache, metrics, JSON logs -----------------------
# With REDIS_URL set, the django-q2 broker and the shared cache use Redis; without it both stay on PostgreSQL.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    del Q_CLUSTER["orm"]
    Q_CLUSTER["redis"] = REDIS_URL
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"  # a Redis restart signs nobody out
else:
    # The table is made by ops' first migration (and by the test runner).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "vectoros_cache"}}
# Two queues, each with its own workers: the default cluster ("vectoros") is the interactive queue (re-forecast,
# rescoring, alerts, deliveries); "bulk" takes the long jobs below (tenancy.jobs.queue_for routes them).
Q_BULK_CLUSTER = "bulk"
Q_CLUSTER["ALT_CLUSTERS"] = {Q_BULK_CLUSTER: {"workers": env_int("Q_BULK_WORKERS", 1, minimum=1, maximum=16)}}
# The bulk cluster's processes run at this lower CPU priority (os.nice increment, 0 = same as the web): a backfill
# takes only the CPU that pages and re-forecasts leave idle, however many bulk workers run.
Q_BULK_NICE = env_int("Q_BULK_NICE", 19, minimum=0, maximum=19)
BULK_TASKS = [
    "forecasting.tasks.backtest_jobs_run",  # a rolling backtest started from the accuracy page
    "similarity.tasks.on_deals_changed",  # embedding backfills (256 deals a run)
    "crm.tasks_import.import_job_run",
    "scoring.tasks.retrain_workspace",
    "scoring.tasks.retrain_requested",  # the model page's button, coalesced per workspace
    "scoring.tasks.retrain_all",
    "scoring.tasks.rescore_all",
    "scoring.tasks.rescore_workspace",  # after a rollback: every open deal of the workspace
    "forecasting.tasks.forecast_scheduled",
    "forecasting.tasks.backtest_rolling_scheduled",
    "alerts.tasks.calibrate_all",
    "crm.tasks_import.prune_uploads",
    "alerts.tasks.run_monitors_all",
    "alerts.tasks.send_daily_digests",
    "alerts.tasks.send_weekly_digests",
    # Webhook and email sends: one run works through every due delivery (the drill saw 70 s runs after a burst),
    # which must not hold the interactive workers; a bulk task waits at most one embedding chunk.
    "alerts.tasks.deliver_pending",
    "audit.tasks.prune_retention",  # daily retention (deletes in bulk)
]
BULK_TASKS += ["capture.tasks.capture_all", "capture.tasks.capture_workspace"]  # IMAP/CalDAV reads (issue 15)
# A newly connected mailbox is read back this far (later passes read whatever is new, however old its date).
CAPTURE_LOOKBACK_DAYS = env_int("CAPTURE_LOOKBACK_DAYS", 180, minimum=1)
# Occurrences of a recurring meeting are stored this far ahead (a booked meeting keeps its deal from going stale).
CAPTURE_MEETINGS_AHEAD_DAYS = env_int("CAPTURE_MEETINGS_AHEAD_DAYS", 60, minimum=1)
# Gmail API capture: the OAuth client the refresh tokens were issued to (the endpoints change only in tests).
GOOGLE_OAUTH_CLIENT_ID = env_str("GOOGLE_OAUTH_CLIENT_ID", "")
GOOGLE_OAUTH_CLIENT_SECRET = env_str("GOOGLE_OAUTH_CLIENT_SECRET", "")
GOOGLE_TOKEN_URI = env_str("GOOGLE_TOKEN_URI", "https://oauth2.googleapis.com/token")
GMAIL_API_ENDPOINT = env_str("GMAIL_API_ENDPOINT", "https://gmail.googleapis.com/")
# In-app OAuth (callback SITE_URL/capture/oauth/callback/) and Google Calendar.
GOOGLE_AUTHORIZE_URL = env_str("GOOGLE_AUTHORIZE_URL", "https://accounts.google.com/o/oauth2/v2/auth")
GOOGLE_CALENDAR_API_ENDPOINT = env_str("GOOGLE_CALENDAR_API_ENDPOINT", "https://www.googleapis.com/calendar/v3/")
MS_AUTHORIZE_URL = env_str("MS_AUTHORIZE_URL", "https://login.microsoftonline.com/common/oauth2/v2.0/authorize")
# Worker-side IMAP IDLE (capture_idle): the longest a wait lasts before the connection is renewed (RFC 2177: < 29 min).
CAPTURE_IDLE_SECONDS = env_int("CAPTURE_IDLE_SECONDS", 24 * 60, minimum=5)
# Microsoft 365 (Graph) capture: the app registration the refresh tokens were issued to.
MS_GRAPH_CLIENT_ID = env_str("MS_GRAPH_CLIENT_ID", "")
MS_GRAPH_CLIENT_SECRET = env_str("MS_GRAPH_CLIENT_SECRET", "")
MS_TOKEN_URI = env_str("MS_TOKEN_URI", "https://login.microsoftonline.com/common/oauth2/v2.0/token")
MS_GRAPH_API_BASE = env_str("MS_GRAPH_API_BASE", "https://graph.microsoft.com/v1.0")
# /metrics answers a bearer METRICS_TOKEN, or a client address inside one of these networks.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
MIDDLEWARE.insert(0, "django_prometheus.middleware.PrometheusBeforeMiddleware")
MIDDLEWARE.append("django_prometheus.middleware.PrometheusAfterMiddleware")
# Who made a change (the user, the API key) travels with every write of the request; exports are recorded.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1, "audit.context.AuditMiddleware"
)

# Handlers run (through the job queue, coalesced per workspace) after deals change.
# Each is a dotted path to a function `(workspace_id: int, deal_ids: list[int]) -> None`.
DEAL_CHANGE_HANDLERS: list[str] = []
DEAL_CHANGE_HANDLERS.append("similarity.tasks.on_deals_changed")  # keeps deal embeddings fresh
DEAL_CHANGE_HANDLERS.append("forecasting.tasks.on_deals_changed")  # a fresh forecast after every change
DEAL_CHANGE_HANDLERS.append("scoring.tasks.on_deals_changed")  # outcomes captured, changed deals rescored
DEAL_CHANGE_HANDLERS.append("alerts.tasks.on_deals_changed")  # "deal.updated" webhook events
DEAL_CHANGE_HANDLERS.append("sync.tasks.on_deals_changed")  # VectorOS edits of synced deals go back to the CRM
BULK_TASKS += ["sync.tasks.sync_due", "sync.tasks.sync_connection"]  # CRM pulls: minutes for a backfill
# Our Salesforce connected app for "Connect Salesforce" (OAuth web flow; callback SITE_URL/sync/oauth/callback/).
SYNC_SALESFORCE_CLIENT_ID = env_str("SYNC_SALESFORCE_CLIENT_ID", "")
SYNC_SALESFORCE_CLIENT_SECRET = env_str("SYNC_SALESFORCE_CLIENT_SECRET", "")
# Our HubSpot app for "Connect HubSpot" (OAuth; the same callback). The scopes it asks for, space-separated.
SYNC_HUBSPOT_CLIENT_ID = env_str("SYNC_HUBSPOT_CLIENT_ID", "")
SYNC_HUBSPOT_CLIENT_SECRET = env_str("SYNC_HUBSPOT_CLIENT_SECRET", "")
SYNC_HUBSPOT_SCOPES = env_str(
    "SYNC_HUBSPOT_SCOPES",
    "oauth crm.objects.deals.read crm.objects.deals.write crm.objects.companies.read crm.objects.contacts.read "
    "crm.objects.owners.read",
)
# HubSpot commerce subscriptions pulled by the sync go to these `handler(workspace=, records=) -> int` (sync sits
# beside customers, so customers registers here rather than sync importing it). Needs the HubSpot app scope
# crm.objects.subscriptions.read (add it to SYNC_HUBSPOT_SCOPES); without it they are skipped, not an error.
SYNC_SUBSCRIPTION_HANDLERS = ["customers.crm_sync.subscriptions_from_crm"]
SYNC_HUBSPOT_AUTHORIZE_URL = env_str("SYNC_HUBSPOT_AUTHORIZE_URL", "https://app.hubspot.com/oauth/authorize")
# crm.duplicates compares deals' stored embeddings through this (crm cannot import similarity).
DEAL_VECTORS_HOOK = "similarity.selectors.deal_vectors"

# Run inside `tenancy.services.workspace_create`'s transaction as `hook(workspace=workspace)`: tenancy sits below
# every app, so apps that give a new workspace something of theirs register here instead of tenancy importing them.
WORKSPACE_CREATED_HOOKS: list[str] = []
WORKSPACE_CREATED_HOOKS.append("crm.services.pipeline_create_default")  # the default pipeline and its stages
# Run inside `tenancy.services.membership_remove`'s transaction as `hook(membership=, reassign_to=, actor=)`: their
# deals go to `reassign_to` (a Membership) or to nobody, through crm's services so history is written.
MEMBER_REMOVED_HOOKS: list[str] = []
# The board's cards show the scoring model's win chance: `reader(workspace_id, deal_ids) -> {deal_id: 0..1}`;
# scoring sits above crm, so crm reads it by this dotted path. Empty: cards show no score.
DEAL_WIN_CHANCE_READER = "scoring.selectors.deal_win_probabilities"
MEMBER_REMOVED_HOOKS.append("crm.services.deals_reassign_from_member")
# Run by `seed_demo` after the demo CRM data exists: `hook(workspace_id)`, e.g. demo targets, a first model.
DEMO_SEED_HOOKS: list[str] = []
DEMO_SEED_HOOKS.append("forecasting.tasks.demo_targets")  # quarter targets and a first forecast
DEMO_SEED_HOOKS.append("scoring.tasks.demo_seed_hook")  # the demo's first scoring model (synthetic data)
DEMO_SEED_HOOKS.append("forecasting.call_demo.demo_calls")  # past forecast calls (causal) and this week's
DEMO_SEED_HOOKS.append("customers.tasks.demo_seed_hook")  # customers, subscriptions, usage, renewals

IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# AI briefs and Ask VectorOS (insights.llm): no key means the labelled deterministic briefs, never an error.
ANTHROPIC_API_KEY = env_str("ANTHROPIC_API_KEY", "")
ANTHROPIC_MODEL = env_str("ANTHROPIC_MODEL", "claude-sonnet-4-6")
ANTHROPIC_BASE_URL = env_str("ANTHROPIC_BASE_URL", "")  # blank: the SDK's own endpoint
ANTHROPIC_TIMEOUT_SECONDS = env_int("ANTHROPIC_TIMEOUT_SECONDS", 30, minimum=1, maximum=600)
ANTHROPIC_MONTHLY_BUDGET_USD = env_int("ANTHROPIC_MONTHLY_BUDGET_USD", 50, minimum=0)  # per workspace, per month
SLACK_WEBHOOK_URL = env_str("SLACK_WEBHOOK_URL", "")
# Sentiment and intent of captured inbound mail read by a model, beside capture's lexicon (no key: the lexicon only).
CAPTURE_INTENT_READERS: list[str] = []
CAPTURE_INTENT_READERS.append("insights.intent.read_intent")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "INFO", LOG_LEVELS)},
    # Quiet libraries that log a line per routine step: the embedded server, each trigger installed after
    # `migrate`, and every HTTP request the CRM sync and capture clients make (their failures still show).
    "loggers": {name: {"level": "WARNING"} for name in ("pgserver", "pgtrigger", "httpx", "httpcore")},
}
if not DEBUG:  # one JSON object per line in production, for the log collector
    LOGGING["formatters"] = {"json": {"()": "ops.logs.JsonFormatter"}}
    LOGGING["handlers"] = {"console": {"class": "logging.StreamHandler", "formatter": "json"}}

# --- Audit log, erasure, retention (issue 11) -----------------------------------------------------------------------
# The audit app's triggers (django-pghistory on django-pgtrigger) are installed after every `migrate` instead of
# being written into the tracked apps' migrations: crm, tenancy, alerts and forecasting keep theirs untouched.
PGTRIGGER_MIGRATIONS = False
PGTRIGGER_INSTALL_ON_MIGRATE = True
# Days kept before `prune_retention` (daily) removes: forecast runs (the latest of each period stays), monitor runs
# (the latest stays), finished import jobs and their reports, sent digests and other deliveries, audit events.
RETENTION_DAYS = {
    "forecast_runs": env_int("VECTOROS_RETENTION_DAYS_FORECAST_RUNS", 400, minimum=1),
    "monitor_runs": env_int("VECTOROS_RETENTION_DAYS_MONITOR_RUNS", 90, minimum=1),
    "uploads": env_int("VECTOROS_RETENTION_DAYS_UPLOADS", 90, minimum=1),
    "digests": env_int("VECTOROS_RETENTION_DAYS_DIGESTS", 90, minimum=1),
    "audit": env_int("VECTOROS_RETENTION_DAYS_AUDIT", 730, minimum=1),
}

# --- Comments, mentions, notifications, tasks (issue 18, collab) -----------------------------------------------------
DEAL_CHANGE_HANDLERS.append("collab.tasks.on_deals_changed")  # "you are now the owner of …" notifications
# Run by alerts' outbox after a monitor pass or a raised alert, as `hook(workspace=, created=, escalated=, ...)`.
ALERTS_CHANGED_HOOKS: list[str] = ["collab.services.on_alerts_changed"]  # High/Critical alerts to the deal's owner
# Web Push (VAPID): a PEM or base64url private key; empty generates one into the data folder on first use.
VAPID_PRIVATE_KEY = env_str("VAPID_PRIVATE_KEY", "")
VAPID_SUBJECT = env_str("VAPID_SUBJECT", "")  # "mailto:…" or "https://…"; empty uses DEFAULT_FROM_EMAIL
COLLAB_PUSH_ALLOW_LOOPBACK_URLS = False  # only the tests' local push service turns this on
