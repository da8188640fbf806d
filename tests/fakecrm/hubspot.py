"""A fake HubSpot account speaking CRM API v3 as documented (developers.hubspot.com/docs/api/crm):

- GET /crm/v3/objects/{type}?limit&after&properties&propertiesWithHistory&associations&archived →
  {"results": [{"id", "properties", "propertiesWithHistory", "associations", "createdAt", "updatedAt",
  "archived"}], "paging": {"next": {"after", "link"}}}; at most 100 a page, 50 with propertiesWithHistory.
- POST /crm/v3/objects/{type}/search with filterGroups (GT/GTE/LT/LTE/EQ), sorts, properties, limit, after.
- POST /crm/v3/objects/{type}/batch/read with inputs, properties, propertiesWithHistory.
- PATCH /crm/v3/objects/deals/{id} {"properties": {...}} → 200 and the object.
- GET /crm/v3/owners, GET /crm/v3/pipelines/deals.
- Commerce subscriptions at /crm/v3/objects/subscriptions (hs_name, hs_status, hs_mrr, hs_recurring_billing_*,
  hs_last_payment_status, ...); 403 MISSING_SCOPES when the app was not granted crm.objects.subscriptions.read.
- 401 {"status": "error", "category": "INVALID_AUTHENTICATION"}; 429 {"errorType": "RATE_LIMIT"} with Retry-After.
- OAuth (developers.hubspot.com/docs/api/oauth-quickstart-guide): GET /oauth/authorize?client_id&redirect_uri&scope
  &state (the admin approves at once: 302 to redirect_uri?code&state); POST /oauth/v1/token form-encoded with
  grant_type=authorization_code (client_id, client_secret, redirect_uri, code) or refresh_token (client_id,
  client_secret, refresh_token) → {"access_token", "refresh_token", "expires_in", "token_type"}; a bad code or
  refresh token → 400 {"status": "BAD_REFRESH_TOKEN" | "BAD_AUTH_CODE", "message"}.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any
from urllib.parse import parse_qs, urlencode

PIPELINE = {
    "id": "default",
    "label": "Sales Pipeline",
    "displayOrder": 0,
    "stages": [
        {"id": sid, "label": label, "displayOrder": i, "metadata": {"isClosed": str(closed).lower(), "probability": p}}
        for i, (sid, label, p, closed) in enumerate(
            [
                ("appointmentscheduled", "Appointment Scheduled", "0.2", False),
                ("qualifiedtobuy", "Qualified To Buy", "0.4", False),
                ("contractsent", "Contract Sent", "0.9", False),
                ("closedwon", "Closed Won", "1.0", True),
                ("closedlost", "Closed Lost", "0.0", True),
            ]
        )
    ],
}
MODIFIED = {
    "deals": "hs_lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
    "subscriptions": "hs_lastmodifieddate",
}


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _time(value: Any) -> datetime:
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeHubSpot:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tokens = {"pat-1"}
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            "deals": {},
            "companies": {},
            "contacts": {},
            "subscriptions": {},
        }
        self.subscriptions_scope = True  # False: 403 MISSING_SCOPES on subscriptions, as an app without it gets
        self.owners: list[dict[str, Any]] = []
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)
        self.calls = 0
        self.limit_at_calls: set[int] = set()
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.limited = 0  # 429 answers given
        self.batch_read = True  # False: answer 404 there, as a stand-in without it would
        self.search = True  # the same for the search endpoint
        self.next_id = 1000
        self.client_id, self.client_secret = "hs-app", "hs-secret"
        self.codes: dict[str, str] = {}  # one-time authorization code -> the redirect_uri it was given for
        self.refresh_tokens: set[str] = set()
        self.token_grants: list[str] = []  # grant types asked for, in order
        self.expires_in = 1800
        self.token_counter = count(1)
        self.expire_at_calls: set[int] = set()  # OAuth access tokens run out when the API call count gets there
        self.unauthorized = 0  # 401 answers given

    def expire_access_tokens(self) -> None:
        """Every OAuth access token runs out now (private-app tokens stay)."""
        with self.lock:
            self.tokens = {t for t in self.tokens if t.startswith("pat-")}

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def add(self, kind: str, properties: dict[str, Any], *, history: dict[str, list] | None = None, associations=None):
        with self.lock:
            self.next_id += 1
            oid = str(self.next_id)
            now = self.tick()
            props = {k: (None if v is None else str(v)) for k, v in properties.items()}
            props.setdefault("createdate", iso(now))
            props[MODIFIED[kind]] = iso(now)
            props["hs_object_id"] = oid
            hist = {k: [(str(v), iso(t)) for v, t in entries] for k, entries in (history or {}).items()}
            self.objects[kind][oid] = {
                "id": oid,
                "properties": props,
                "history": hist,
                "archived": False,
                "associations": associations or {},
                "createdAt": props["createdate"],
            }
            return oid

    def modify(self, kind: str, oid: str, properties: dict[str, Any]) -> None:
        with self.lock:
            obj = self.objects[kind][oid]
            now = iso(self.tick())
            for key, value in properties.items():
                value = None if value is None else str(value)
                if obj["properties"].get(key) != value:
                    obj["history"].setdefault(key, []).append((value, now))
                obj["properties"][key] = value
            obj["properties"][MODIFIED[kind]] = now

    def archive(self, kind: str, oid: str) -> None:
        with self.lock:
            obj = self.objects[kind][oid]
            obj["archived"], obj["archivedAt"] = True, iso(self.tick())

    # --- shaping ---------------------------------------------------------------------------------------
    def _shape(self, obj: dict[str, Any], properties: list[str], with_history: list[str], associations: list[str]):
        out: dict[str, Any] = {
            "id": obj["id"],
            "properties": {p: obj["properties"].get(p) for p in [*properties, "hs_object_id", "createdate"]},
            "createdAt": obj["createdAt"],
            "updatedAt": obj["properties"].get("hs_lastmodifieddate") or obj["properties"].get("lastmodifieddate"),
            "archived": obj["archived"],
        }
        if obj["archived"]:
            out["archivedAt"] = obj["archivedAt"]
        if with_history:
            out["propertiesWithHistory"] = {
                p: [
                    {"value": v, "timestamp": t, "sourceType": "CRM_UI"} for v, t in reversed(obj["history"].get(p, []))
                ]
                for p in with_history
            }  # newest first, as HubSpot answers
        if associations:
            out["associations"] = {
                a: {"results": [{"id": i, "type": f"deal_to_{a[:-1]}"} for i in obj["associations"].get(a, [])]}
                for a in associations
                if obj["associations"].get(a)
            }
        return out

    # --- HTTP ------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        status, body, headers = self.handle(environ)
        start_response(status, [("Content-Type", "application/json"), *headers])
        return [json.dumps(body).encode()]

    def handle(self, environ: dict[str, Any]) -> tuple[str, Any, list[tuple[str, str]]]:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form_encoded = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length and not form_encoded else {}
        with self.lock:
            if path == "/oauth/authorize" and method == "GET":
                if query.get("client_id") != self.client_id or not query.get("scope"):
                    return "400 Bad Request", {"status": "error", "message": "unknown app or no scope"}, []
                code = f"hs-code-{next(self.token_counter)}"
                self.codes[code] = query["redirect_uri"]
                location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
                return "302 Found", {}, [("Location", location)]
            if path == "/oauth/v1/token" and method == "POST":
                form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(length).decode()).items()}
                return self._token(form)
            self.calls += 1
            if self.calls in self.expire_at_calls:
                self.expire_access_tokens()
            if environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ") not in self.tokens:
                self.unauthorized += 1
                return (
                    "401 Unauthorized",
                    {
                        "status": "error",
                        "message": "Authentication credentials not found.",
                        "category": "INVALID_AUTHENTICATION",
                    },
                    [],
                )
            if self.calls in self.limit_at_calls:
                self.limited += 1
                answer = {
                    "status": "error",
                    "message": "You have reached your secondly limit.",
                    "errorType": "RATE_LIMIT",
                    "policyName": "SECONDLY",
                }
                return "429 Too Many Requests", answer, [("Retry-After", "1")]
            parts = path.strip("/").split("/")
            if path == "/crm/v3/owners" and method == "GET":
                return self._list(self.owners, query, lambda o: o)
            if path == "/crm/v3/pipelines/deals":
                return "200 OK", {"results": [PIPELINE]}, []
            if parts[:4] == ["crm", "v3", "objects", "subscriptions"] and not self.subscriptions_scope:
                return "403 Forbidden", {"status": "error", "category": "MISSING_SCOPES", "message": "scope"}, []
            if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4 and parts[3] in self.objects:
                kind = parts[3]
                if len(parts) == 4 and method == "GET":
                    return self._list_objects(kind, query)
                if parts[4:] == ["search"] and method == "POST" and self.search:
                    return self._search(kind, body)
                if parts[4:] == ["batch", "read"] and method == "POST" and self.batch_read:
                    found = [
                        self.objects[kind][i["id"]] for i in body.get("inputs", []) if i["id"] in self.objects[kind]
                    ]
                    shaped = [
                        self._shape(o, body.get("properties", []), body.get("propertiesWithHistory", []), [])
                        for o in found
                    ]
                    return "200 OK", {"status": "COMPLETE", "results": shaped}, []
                if len(parts) == 5 and method == "PATCH":
                    if parts[4] not in self.objects[kind]:
                        return "404 Not Found", {"status": "error", "message": "resource not found"}, []
                    self.patches.append((parts[4], body["properties"]))
                    self.modify(kind, parts[4], body["properties"])
                    return "200 OK", self._shape(self.objects[kind][parts[4]], list(body["properties"]), [], []), []
            return "404 Not Found", {"status": "error", "message": f"no route {method} {path}"}, []

    def _token(self, form: dict[str, str]) -> tuple[str, Any, list[tuple[str, str]]]:
        grant = form.get("grant_type", "")
        self.token_grants.append(grant)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return "400 Bad Request", {"status": "BAD_CLIENT_ID", "message": "missing or invalid client"}, []
        if grant == "authorization_code":
            if self.codes.pop(form.get("code", ""), None) != form.get("redirect_uri"):
                return "400 Bad Request", {"status": "BAD_AUTH_CODE", "message": "missing or unknown auth code"}, []
            refresh = f"hs-refresh-{next(self.token_counter)}"
            self.refresh_tokens.add(refresh)
        elif grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            if refresh not in self.refresh_tokens:
                return (
                    "400 Bad Request",
                    {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"},
                    [],
                )
        else:
            return "400 Bad Request", {"status": "BAD_GRANT_TYPE", "message": "unknown grant_type"}, []
        access = f"hs-access-{next(self.token_counter)}"
        self.tokens.add(access)
        answer = {"access_token": access, "refresh_token": refresh, "expires_in": self.expires_in}
        return "200 OK", {**answer, "token_type": "bearer"}, []

    def _list(self, rows: list, query: dict[str, str], shape: Any, limit_max: int = 100):
        limit = min(int(query.get("limit", 10)), limit_max)
        start = int(query.get("after", 0) or 0)
        page = rows[start : start + limit]
        answer: dict[str, Any] = {"results": [shape(r) for r in page]}
        if start + limit < len(rows):
            answer["paging"] = {"next": {"after": str(start + limit), "link": f"?after={start + limit}"}}
        return "200 OK", answer, []

    def _list_objects(self, kind: str, query: dict[str, str]):
        archived = query.get("archived") == "true"
        rows = sorted((o for o in self.objects[kind].values() if o["archived"] == archived), key=lambda o: int(o["id"]))
        props = [p for p in query.get("properties", "").split(",") if p]
        history = [p for p in query.get("propertiesWithHistory", "").split(",") if p]
        assoc = [a for a in query.get("associations", "").split(",") if a]
        return self._list(rows, query, lambda o: self._shape(o, props, history, assoc), 50 if history else 100)

    def _search(self, kind: str, body: dict[str, Any]):
        rows = [o for o in self.objects[kind].values() if not o["archived"]]
        for group in body.get("filterGroups", []):
            for f in group.get("filters", []):
                value, prop, op = _time(f["value"]), f["propertyName"], f["operator"]
                test = {
                    "GT": lambda a, b: a > b,
                    "GTE": lambda a, b: a >= b,
                    "LT": lambda a, b: a < b,
                    "LTE": lambda a, b: a <= b,
                    "EQ": lambda a, b: a == b,
                }[op]
                rows = [o for o in rows if o["properties"].get(prop) and test(_time(o["properties"][prop]), value)]
        for sort in reversed(body.get("sorts", [])):
            rows.sort(key=lambda o, p=sort["propertyName"]: (o["properties"].get(p) or "", int(o["id"])))
        props = body.get("properties", [])
        status, answer, headers = self._list(
            rows,
            {"limit": str(body.get("limit", 10)), "after": body.get("after") or "0"},
            lambda o: self._shape(o, props, [], []),
            200,
        )
        answer["total"] = len(rows)
        return status, answer, headers


def seed_synthetic(fake: FakeHubSpot, *, deals: int, companies: int = 50, owners: int = 5) -> None:
    for o in range(owners):
        fake.owners.append(
            {
                "id": str(500 + o),
                "email": f"owner{o}@example.test",
                "firstName": "Owner",
                "lastName": str(o),
                "userId": 9000 + o,
                "archived": False,
            }
        )
    company_ids = [
        fake.add("companies", {"name": f"Company {c}", "domain": f"c{c}.example", "industry": "SOFTWARE"})
        for c in range(companies)
    ]
    stages = PIPELINE["stages"]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for d in range(deals):
        created = start + timedelta(hours=5 * d)
        path = [s["id"] for s in stages[: 1 + d % 3]]
        if d % 4 == 0:
            path.append("closedwon" if d % 8 == 0 else "closedlost")
        times = [created + timedelta(days=4 * i) for i in range(len(path))]
        amount = 500 * (1 + d % 40)
        close = (created + timedelta(days=45)).strftime("%Y-%m-%dT00:00:00.000Z")
        fake.add(
            "deals",
            {
                "dealname": f"HS deal {d}",
                "dealstage": path[-1],
                "pipeline": "default",
                "amount": amount,
                "closedate": close,
                "hubspot_owner_id": str(500 + d % owners),
                "createdate": iso(created),
                "hs_deal_stage_probability": next(s["metadata"]["probability"] for s in stages if s["id"] == path[-1]),
            },
            history={
                "dealstage": list(zip(path, times, strict=True)),
                "amount": [(amount, created)],
                "closedate": [(close, created)],
                "hubspot_owner_id": [(str(500 + d % owners), created)],
            },
            associations={"companies": [company_ids[d % companies]]},
        )
