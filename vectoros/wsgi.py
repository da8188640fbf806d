from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vectoros.settings")

from vectoros import embedded_db

embedded_db.start_for_settings()  # a no-op with DATABASE_URL; else the embedded PostgreSQL (settings start nothing)
application = get_wsgi_application()

from ops.memory import warm_web  # noqa: E402 (needs the app loaded above)

warm_web()  # every view imported and start-up's objects out of the garbage collector's way, before serving
