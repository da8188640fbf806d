"""A database that does not answer (a restart, a failover) gives 503 with Retry-After, not a 500.

Django wraps the driver's connection errors as `OperationalError` / `InterfaceError`. The client is told to try
again shortly: the API with a problem body, pages with the plain 503 page (rendered without the request: no session,
no database). Each service's write is one transaction, so a write that met the error was not saved.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from vectoros.apischema import PROBLEM_JSON

logger = logging.getLogger(__name__)
RETRY_AFTER = 5  # seconds: a restart is over in a few


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable: %s %s: %s", request.method, request.path, exception)
        if request.path.startswith("/api/"):
            body = {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": f"The database did not answer (a restart or a failover). Try again in {RETRY_AFTER} s.",
            }
            response = HttpResponse(json.dumps(body), status=503, content_type=PROBLEM_JSON)
        else:
            response = HttpResponse(render_to_string("503.html", {"retry_after": RETRY_AFTER}), status=503)
        response["Retry-After"] = str(RETRY_AFTER)
        return response
