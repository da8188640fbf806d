"""A local server speaking the parts of the Gmail REST API (v1), the Google Calendar API (v3) and Google's OAuth
endpoints that capture uses, as documented: GET /authorize and POST /token (authorization_code with PKCE,
refresh_token; see fake_oauth); GET calendar/v3/calendars/primary and .../events (pageToken, syncToken: changes
since, deleted ones as bare cancelled resources; 410 for a sync token no longer kept); GET
gmail/v1/users/me/profile, .../messages (q=after:, pageToken), .../messages/{id}?format=raw, .../history
(startHistoryId, historyTypes=messageAdded; 404 for a history id no longer kept). The real
google-api-python-client and google-auth talk to it; nothing of theirs is patched.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.capture.fake_oauth import AuthServer

PAGE = 50
EVENTS_PAGE = 20


@dataclass
class _Message:
    id: str
    raw: bytes
    labels: list[str]
    history_id: int
    internal: datetime


@dataclass
class FakeGmail:
    address: str
    refresh_token: str
    client_id: str
    messages: list[_Message] = field(default_factory=list)
    history_id: int = 1000
    oldest_history: int = 0  # history ids below this are "no longer available" (404)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    auth: AuthServer = field(init=False)
    # Google Calendar: events resources (primary calendar) with the sequence of their last change.
    events: dict[str, tuple[int, dict]] = field(default_factory=dict)
    event_seq: int = 0
    oldest_sync: int = 0  # sync tokens below this get 410 Gone

    def __post_init__(self) -> None:
        self.auth = AuthServer(self.client_id, self.refresh_token)

    def put_event(self, event: dict) -> None:
        """Add or change an event (an events resource: id, iCalUID, summary, start, end, status, attendees...)."""
        with self.lock:
            self.event_seq += 1
            body = {"kind": "calendar#event", "etag": f'"{self.event_seq}"', "status": "confirmed", **event}
            self.events[event["id"]] = (self.event_seq, body)

    def delete_event(self, event_id: str) -> None:
        """Deleted: incremental listings return it as a bare cancelled resource, as Google does."""
        with self.lock:
            self.event_seq += 1
            self.events[event_id] = (self.event_seq, {"kind": "calendar#event", "id": event_id, "status": "cancelled"})

    def forget_sync_tokens(self) -> None:
        self.oldest_sync = self.event_seq + 1

    def add(self, raw: bytes, labels: list[str]) -> str:
        head = BytesHeaderParser().parsebytes(raw)
        try:
            internal = parsedate_to_datetime(str(head["Date"])) if head["Date"] else datetime.now(UTC)
        except (TypeError, ValueError):
            internal = datetime.now(UTC)
        with self.lock:
            self.history_id += 1
            message_id = f"{len(self.messages) + 1:016x}"
            self.messages.append(_Message(message_id, raw, labels, self.history_id, internal))
        return message_id

    def forget_history(self) -> None:
        """Gmail keeps history for a limited time: older start ids now get a 404."""
        self.oldest_history = self.history_id + 1


def _handler(box: FakeGmail) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, reason: str) -> None:
            self._send(status, {"error": {"code": status, "message": message, "status": reason}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path != "/token":
                return self._error(404, "Not found", "NOT_FOUND")
            return self._send(*box.auth.token(form))

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/authorize":
                return box.auth.answer_authorize(self)
            if not box.auth.authorized(self.headers.get("Authorization")):
                return self._error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
            if self.path.startswith("/calendar/v3/"):
                return self._calendar()
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            path = parts.path.removeprefix("/gmail/v1/users/me/")
            with box.lock:
                messages = list(box.messages)
                current = box.history_id
            if path == "profile":
                return self._send(
                    200,
                    {
                        "emailAddress": box.address,
                        "messagesTotal": len(messages),
                        "threadsTotal": len(messages),
                        "historyId": str(current),
                    },
                )
            if path == "messages":
                chosen = messages
                if query.get("q", "").startswith("after:"):
                    after = datetime.strptime(query["q"][6:], "%Y/%m/%d").replace(tzinfo=UTC)
                    chosen = [m for m in chosen if m.internal >= after]
                chosen = [m for m in chosen if not {"SPAM", "TRASH"} & set(m.labels)]
                start = int(query.get("pageToken") or 0)
                page = chosen[start : start + PAGE]
                body: dict = {
                    "messages": [{"id": m.id, "threadId": m.id} for m in page],
                    "resultSizeEstimate": len(chosen),
                }
                if start + PAGE < len(chosen):
                    body["nextPageToken"] = str(start + PAGE)
                if not page:
                    body.pop("messages")
                return self._send(200, body)
            if path.startswith("messages/"):
                found = next((m for m in messages if m.id == path.split("/", 1)[1]), None)
                if found is None:
                    return self._error(404, "Requested entity was not found.", "NOT_FOUND")
                return self._send(
                    200,
                    {
                        "id": found.id,
                        "threadId": found.id,
                        "labelIds": found.labels,
                        "historyId": str(found.history_id),
                        "internalDate": str(int(found.internal.timestamp() * 1000)),
                        "sizeEstimate": len(found.raw),
                        "raw": base64.urlsafe_b64encode(found.raw).decode().rstrip("="),
                    },
                )
            if path == "history":
                start_id = int(query["startHistoryId"])
                if start_id < box.oldest_history:
                    return self._error(404, "Requested entity was not found.", "NOT_FOUND")
                added = [m for m in messages if m.history_id > start_id]
                records = [
                    {
                        "id": str(m.history_id),
                        "messages": [{"id": m.id, "threadId": m.id}],
                        "messagesAdded": [{"message": {"id": m.id, "threadId": m.id, "labelIds": m.labels}}],
                    }
                    for m in added
                ]
                body = {"historyId": str(current)}
                if records:
                    body["history"] = records
                return self._send(200, body)
            return self._error(404, "Not found", "NOT_FOUND")

        def _calendar(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            path = parts.path.removeprefix("/calendar/v3/")
            if path == "calendars/primary":
                return self._send(200, {"kind": "calendar#calendar", "id": box.address, "timeZone": "UTC"})
            if path != "calendars/primary/events":
                return self._error(404, "Not Found", "NOT_FOUND")
            with box.lock:
                events = sorted(box.events.values(), key=lambda pair: pair[0])
                current = box.event_seq
            if "syncToken" in query:
                since = int(query["syncToken"].removeprefix("sync-"))
                if since < box.oldest_sync:
                    return self._error(410, "Sync token is no longer valid, a full sync is required.", "GONE")
                chosen = [body for seq, body in events if seq > since]
            else:
                chosen = [body for _, body in events if body.get("status") != "cancelled"]
            start = int(query.get("pageToken") or 0)
            body: dict = {"kind": "calendar#events", "items": chosen[start : start + EVENTS_PAGE]}
            if start + EVENTS_PAGE < len(chosen):
                body["nextPageToken"] = str(start + EVENTS_PAGE)
            else:
                body["nextSyncToken"] = f"sync-{current}"
            return self._send(200, body)

    return Handler


@contextmanager
def fake_gmail(address: str, refresh_token: str, client_id: str) -> Iterator[FakeGmail]:
    box = FakeGmail(address, refresh_token, client_id)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    box.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
