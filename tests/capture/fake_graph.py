"""A local server speaking the parts of Microsoft Graph v1.0 and the identity platform's v2.0 token endpoint that
capture uses, as documented: POST /token (grant_type=refresh_token; the refresh token is rotated), GET /v1.0/me,
GET /v1.0/me/mailFolders/{inbox|sentitems}/messages/delta (pages with @odata.nextLink, then @odata.deltaLink; a
delta link returns what was added since), GET /v1.0/me/messages/{id}/$value (the MIME). The real msgraph-sdk talks
to it; nothing of the SDK is patched.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from tests.capture.fake_oauth import AuthServer

PAGE = 40


@dataclass
class _Message:
    id: str
    folder: str
    raw: bytes
    received: datetime
    seq: int


@dataclass
class FakeGraph:
    address: str
    refresh_token: str
    client_id: str
    messages: list[_Message] = field(default_factory=list)
    seq: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    auth: AuthServer = field(init=False)
    events: dict[str, tuple[int, dict]] = field(default_factory=dict)  # event id → (change sequence, resource)
    event_seq: int = 0

    def __post_init__(self) -> None:
        self.auth = AuthServer(self.client_id, self.refresh_token, rotate=True)  # Microsoft rotates refresh tokens

    def put_event(self, event: dict) -> None:
        """Add or change an event resource (id, iCalUId, subject, start/end {dateTime, timeZone}, isCancelled,
        organizer, attendees [{emailAddress, status {response}}])."""
        with self.lock:
            self.event_seq += 1
            body = {"@odata.type": "#microsoft.graph.event", "@odata.etag": f'W/"{self.event_seq}"', **event}
            self.events[event["id"]] = (self.event_seq, body)

    def delete_event(self, event_id: str) -> None:
        with self.lock:
            self.event_seq += 1
            self.events[event_id] = (self.event_seq, {"id": event_id, "@removed": {"reason": "deleted"}})

    def add(self, raw: bytes, folder: str) -> None:
        head = BytesHeaderParser().parsebytes(raw)
        try:
            received = parsedate_to_datetime(str(head["Date"])) if head["Date"] else datetime.now(UTC)
        except (TypeError, ValueError):
            received = datetime.now(UTC)
        with self.lock:
            self.seq += 1
            self.messages.append(_Message(f"AAMk{self.seq:06d}", folder, raw, received, self.seq))


def _handler(box: FakeGraph) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: dict | bytes, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, {"error": {"code": code, "message": message}})

        def do_POST(self) -> None:
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
            if urlsplit(self.path).path != "/token":
                return self._error(404, "NotFound", "no such endpoint")
            status, body = box.auth.token(form)
            if status != 200:
                body = {"error": body.get("error", "invalid_grant"), "error_description": f"AADSTS70000: {body}"}
            return self._send(status, body)

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/authorize":
                return box.auth.answer_authorize(self)
            if not box.auth.authorized(self.headers.get("Authorization")):
                return self._error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
            parts = urlsplit(self.path)
            path = unquote(parts.path).removeprefix("/v1.0/").removesuffix("()")  # the SDK calls delta() as a function
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            base = box.url + "v1.0/"
            with box.lock:
                messages = list(box.messages)
                seq = box.seq
            if path.startswith("me/calendarView/delta"):
                return self._calendar_delta(query, base)
            if path == "me":
                return self._send(200, {"id": "u1", "mail": box.address, "userPrincipalName": box.address})
            if path.startswith("me/messages/") and path.endswith("/$value"):
                wanted = path.split("/")[2]
                found = next((m for m in messages if m.id == wanted), None)
                if found is None:
                    return self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
                return self._send(200, found.raw, "text/plain")
            if path.startswith("me/mailFolders/") and path.endswith("/messages/delta"):
                folder = path.split("/")[2].lower()
                if "$skiptoken" in query:
                    after, offset, upto = (int(x) for x in query["$skiptoken"].split("."))
                else:
                    after, offset, upto = int(query.get("$deltatoken", 0)), 0, seq
                chosen = [m for m in messages if m.folder == folder and after < m.seq <= upto]
                page = chosen[offset : offset + PAGE]
                link = f"{base}me/mailFolders/{folder}/messages/delta"
                body: dict = {
                    "@odata.context": f"{base}$metadata#Collection(message)",
                    "value": [
                        {
                            "@odata.type": "#microsoft.graph.message",
                            "id": m.id,
                            "receivedDateTime": m.received.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        }
                        for m in page
                    ],
                }
                if offset + PAGE < len(chosen):
                    body["@odata.nextLink"] = f"{link}?$skiptoken={after}.{offset + PAGE}.{upto}"
                else:
                    body["@odata.deltaLink"] = f"{link}?$deltatoken={upto}"
                return self._send(200, body)
            return self._error(404, "NotFound", f"no such resource {path}")

        def _calendar_delta(self, query: dict[str, str], base: str) -> None:
            """calendarView/delta: a first round over [startDateTime, endDateTime] (pages, then a deltaLink), later
            rounds what changed since, removed events as `@removed`."""
            link = f"{base}me/calendarView/delta"
            with box.lock:
                events = sorted(box.events.values(), key=lambda pair: pair[0])
                current = box.event_seq
            if "$deltatoken" in query:
                since, window = int(query["$deltatoken"].split(".")[0]), query["$deltatoken"].split(".", 1)[1]
                chosen = [body for seq, body in events if seq > since]
                offset = 0
            elif "$skiptoken" in query:
                offset_text, since_text, window = query["$skiptoken"].split(".", 2)
                offset, since = int(offset_text), int(since_text)
                chosen = [body for seq, body in events if seq > since]
                chosen = [b for b in chosen if "@removed" not in b] if since == 0 else chosen
            else:
                if "startDateTime" not in query or "endDateTime" not in query:
                    return self._error(400, "ErrorInvalidParameter", "startDateTime and endDateTime are required.")
                window, since, offset = f"{query['startDateTime']}_{query['endDateTime']}", 0, 0
                chosen = [body for _, body in events if "@removed" not in body]
            if since == 0:
                low, high = window.split("_")
                chosen = [b for b in chosen if low <= b["start"]["dateTime"][:19] + "Z" <= high]
            page = chosen[offset : offset + PAGE]
            body: dict = {"@odata.context": f"{base}$metadata#Collection(event)", "value": page}
            if offset + PAGE < len(chosen):
                body["@odata.nextLink"] = f"{link}?$skiptoken={offset + PAGE}.{since}.{window}"
            else:
                body["@odata.deltaLink"] = f"{link}?$deltatoken={current}.{window}"
            return self._send(200, body)

    return Handler


@contextmanager
def fake_graph(address: str, refresh_token: str, client_id: str) -> Iterator[FakeGraph]:
    box = FakeGraph(address, refresh_token, client_id)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    box.url = f"http://127.0.0.1:{server.server_address[1]}/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
