"""Settings for the test suite: the same as production but fast hashing, local email, no waiting."""

from __future__ import annotations

import os

# The suite runs as the local demo does (DEBUG on unless a test says otherwise); subprocesses inherit this.
os.environ.setdefault("DEBUG", "true")

from vectoros.settings import *  # noqa: F403 (test settings extend the real ones, after DEBUG is set)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
