"""The drill's settings: production settings (DEBUG off) plus what only a loopback drill needs."""

import os

from vectoros.settings import *  # noqa: F403 (the real settings, unchanged but for the lines below)

ALERTS_ALLOW_LOOPBACK_URLS = True  # webhooks go to the drill's own receiver on 127.0.0.1
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"  # emails land in files, counted for duplicates
EMAIL_FILE_PATH = os.environ["DRILL_MAIL_DIR"]
ACCOUNT_RATE_LIMITS = False
