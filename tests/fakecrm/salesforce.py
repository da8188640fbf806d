"""A fake Salesforce org speaking the REST API as documented (REST API Developer Guide, v59.0):

- POST /services/oauth2/token, grant_type=refresh_token → {"access_token", "instance_url", "token_type", ...};
  a revoked refresh token → 400 {"error": "invalid_grant", "error_description": "expired access/refresh token"}.
- GET /services/data/vXX.X/query?q=SOQL (and /queryAll, which also returns IsDeleted records) →
  {"totalSize", "done", "records": [{"attributes": {"type", "url"}, ...}], "nextRecordsUrl"} in batches of 2,000.
- PATCH /services/data/vXX.X/sobjects/Opportunity/{Id} → 204.
- errors as [{"message", "errorCode"}]: 401 INVALID_SESSION_ID, 403 REQUEST_LIMIT_EXCEEDED, 400 MALFORMED_QUERY.

SOQL is parsed only as far as the sync needs: SELECT fields FROM Object [WHERE a AND b ...] [ORDER BY f, g]
with =, !=, >, >=, <, <= and IN (...) on text, numbers, booleans and datetime literals.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

VERSION_PATH = re.compile(r"^/services/data/v\d+\.\d+/")
BATCH = 2000
_SELECT = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_COND = re.compile(r"^\s*(\w+)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$", re.DOTALL)
_IN = re.compile(r"^\s*(\w+)\s+IN\s*\((.*)\)\s*$", re.IGNORECASE | re.DOTALL)
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")


def sf_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _parse_literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("'"):
        return text[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    if text.lower() == "null":
        return None
    if re.match(r"^\d{4}-\d{2}-\d{2}T", text):
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00"))
    return float(text)


def _comparable(value: Any, literal: Any) -> Any:
    if isinstance(literal, datetime) and isinstance(value, str):
        return datetime.fromisoformat(value.replace("+0000", "+00:00"))
    return value


class SoqlError(Exception):
    pass


class FakeSalesforce:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, list[dict[str, Any]]] = {
            k: []
            for k in (
                "Opportunity",
                "OpportunityHistory",
                "OpportunityFieldHistory",
                "Account",
                "Contact",
                "User",
                "OpportunityStage",
            )
        }
        # Opportunity fields with history tracking on: each change of one adds an OpportunityFieldHistory row
        # (Id, OpportunityId, CreatedDate, Field, OldValue, NewValue), as Salesforce's field history does.
        self.tracked_fields = {"NextStep", "ForecastCategoryName", "StageName", "Amount"}
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)
        self.client_id, self.client_secret = "cid", "csecret"
        self.refresh_tokens = {"refresh-1"}
        self.access_tokens: set[str] = set()
        self.token_counter = itertools.count(1)
        self.cursors: dict[str, list[dict[str, Any]]] = {}
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.token_grants = 0
        self.query_calls = 0
        self.expire_tokens_at_query: int | None = None  # before this query call, every access token expires
        self.limit_at_query: set[int] = set()  # these query calls answer 403 REQUEST_LIMIT_EXCEEDED
        self.ids = itertools.count(1)
        self.codes: dict[str, str] = {}  # authorization code -> the redirect URI it was given for
        self.batch_size = BATCH  # records a query page (Salesforce: 2,000 unless the client asks for fewer)

    # --- data ------------------------------------------------------------------------------------------
    def tick(self) -> str:
        self.clock += timedelta(seconds=1)
        return sf_time(self.clock)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids):015d}"[:18]

    def add(self, sobject: str, record: dict[str, Any], *, stamp: str | None = None) -> dict[str, Any]:
        with self.lock:
            record.setdefault(
                "Id", self.new_id({"Opportunity": "006", "Account": "001", "Contact": "003"}.get(sobject, "00X"))
            )
            record.setdefault("IsDeleted", False)
            record["SystemModstamp"] = stamp or self.tick()
            self.tables[sobject].append(record)
            return record

    def find(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        return next((r for r in self.tables[sobject] if r["Id"] == record_id), None)

    def modify(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        """An edit in Salesforce: the record changes, its stamp moves, OpportunityHistory gets a row, and so does
        OpportunityFieldHistory for each tracked field whose value changed."""
        with self.lock:
            record = self.find(sobject, record_id)
            if record is None:
                raise KeyError(record_id)
            before = dict(record)
            if sobject == "Opportunity" and "StageName" in fields:
                # As Salesforce does: a new stage brings its default probability and forecast category.
                stage = next(
                    (s for s in self.tables["OpportunityStage"] if s["MasterLabel"] == fields["StageName"]), None
                )
                if stage is not None:
                    record["Probability"] = float(stage["DefaultProbability"])
                    record["ForecastCategoryName"] = stage["ForecastCategoryName"]
                    record["IsClosed"], record["IsWon"] = stage["IsClosed"], stage["IsWon"]
            record.update(fields)
            record["SystemModstamp"] = record["LastModifiedDate"] = self.tick()
            if sobject == "Opportunity":
                for name in sorted(self.tracked_fields):
                    if before.get(name) != record.get(name):
                        self.add_field_history(record_id, name, before.get(name), record.get(name))
            if sobject == "Opportunity" and {"StageName", "Amount", "CloseDate", "Probability"} & set(fields):
                self.add(
                    "OpportunityHistory",
                    {
                        "OpportunityId": record_id,
                        "CreatedDate": record["SystemModstamp"],
                        **{k: record.get(k) for k in ("StageName", "Amount", "CloseDate", "Probability")},
                    },
                )

    def add_field_history(self, opportunity_id: str, field: str, old: Any, new: Any, at: str | None = None) -> None:
        when = at or sf_time(self.clock)
        self.add(
            "OpportunityFieldHistory",
            {"OpportunityId": opportunity_id, "CreatedDate": when, "Field": field, "OldValue": old, "NewValue": new},
            stamp=when,
        )

    def delete(self, sobject: str, record_id: str) -> None:
        with self.lock:
            record = self.find(sobject, record_id)
            assert record is not None
            record["IsDeleted"] = True
            record["SystemModstamp"] = self.tick()

    # --- SOQL ------------------------------------------------------------------------------------------
    def run_soql(self, soql: str, *, include_deleted: bool) -> list[dict[str, Any]]:
        match = _SELECT.match(soql)
        if match is None:
            raise SoqlError(f"unexpected token in {soql[:80]!r}")
        fields = [f.strip() for f in match["fields"].split(",")]
        sobject = match["object"]
        if sobject not in self.tables:
            raise SoqlError(f"sObject type '{sobject}' is not supported.")
        rows = [r for r in self.tables[sobject] if include_deleted or not r.get("IsDeleted")]
        if match["where"]:
            for condition in re.split(r"\s+AND\s+", match["where"], flags=re.IGNORECASE):
                rows = self._filter(rows, condition)
        if match["order"]:
            keys = [k.strip().split()[0] for k in match["order"].split(",")]
            rows = sorted(rows, key=lambda r: tuple((r.get(k) is None, r.get(k) or 0) for k in keys))
        if match["limit"]:
            rows = rows[: int(match["limit"])]
        return [
            {"attributes": {"type": sobject, "url": f"/services/data/v59.0/sobjects/{sobject}/{r.get('Id')}"}}
            | {f: r.get(f) for f in fields}
            for r in rows
        ]

    def _filter(self, rows: list[dict[str, Any]], condition: str) -> list[dict[str, Any]]:
        in_match = _IN.match(condition)
        if in_match:
            wanted = {m.replace("\\'", "'") for m in _LITERAL.findall(in_match[2])}
            return [r for r in rows if r.get(in_match[1]) in wanted]
        match = _COND.match(condition)
        if match is None:
            raise SoqlError(f"cannot read condition {condition!r}")
        field, op, literal = match[1], match[2], _parse_literal(match[3])
        ops = {
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            ">": lambda a, b: a is not None and a > b,
            ">=": lambda a, b: a is not None and a >= b,
            "<": lambda a, b: a is not None and a < b,
            "<=": lambda a, b: a is not None and a <= b,
        }
        return [r for r in rows if ops[op](_comparable(r.get(field), literal), literal)]

    # --- HTTP ------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        status, body, headers = self.handle(environ)
        payload = b"" if body is None else json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), *headers])
        return [payload]

    def handle(self, environ: dict[str, Any]) -> tuple[str, Any, list[tuple[str, str]]]:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        with self.lock:
            if path == "/services/oauth2/token" and method == "POST":
                return self._token(parse_qs(raw.decode()))
            if path == "/services/oauth2/authorize" and method == "GET":
                # The admin signs in and approves at once: back to the app with a one-time code.
                query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
                if query.get("client_id") != self.client_id:
                    return "400 Bad Request", {"error": "invalid_client_id"}, []
                code = f"code-{next(self.token_counter)}"
                self.codes[code] = query["redirect_uri"]
                location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
                return "302 Found", None, [("Location", location)]
            token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
            rest = VERSION_PATH.sub("", path)
            if rest.startswith(("query", "queryAll")):
                self.query_calls += 1
                if self.expire_tokens_at_query == self.query_calls:
                    self.access_tokens.clear()
            if token not in self.access_tokens:
                return (
                    "401 Unauthorized",
                    [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                    [],
                )
            if rest.startswith(("query", "queryAll")) and self.query_calls in self.limit_at_query:
                self.limit_at_query.discard(self.query_calls)
                return (
                    "403 Forbidden",
                    [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                    [],
                )
            if method == "GET" and rest in ("query", "queryAll", "query/", "queryAll/"):
                soql = parse_qs(environ.get("QUERY_STRING", "")).get("q", [""])[0]
                try:
                    rows = self.run_soql(soql, include_deleted=rest.startswith("queryAll"))
                except SoqlError as exc:
                    return "400 Bad Request", [{"message": str(exc), "errorCode": "MALFORMED_QUERY"}], []
                return self._page(rows, 0, None)
            if method == "GET" and rest.startswith(("query/", "queryAll/")):
                locator = unquote(rest.split("/", 1)[1])
                cursor_id, offset = locator.rsplit("-", 1)
                rows = self.cursors.get(cursor_id)
                if rows is None:
                    return (
                        "400 Bad Request",
                        [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}],
                        [],
                    )
                return self._page(rows, int(offset), cursor_id)
            match = re.match(r"^sobjects/(\w+)/(\w+)$", rest)
            if method == "PATCH" and match:
                fields = json.loads(raw or b"{}")
                if self.find(match[1], match[2]) is None:
                    return "404 Not Found", [{"message": "not found", "errorCode": "NOT_FOUND"}], []
                self.patches.append((match[2], fields))
                self.modify(match[1], match[2], fields)
                return "204 No Content", None, []
            return "404 Not Found", [{"message": f"no resource {path}", "errorCode": "NOT_FOUND"}], []

    def _token(self, form: dict[str, list[str]]) -> tuple[str, Any, list[tuple[str, str]]]:
        get = lambda k: form.get(k, [""])[0]  # noqa: E731  # a local shorthand
        if get("grant_type") == "authorization_code" and get("client_secret") == self.client_secret:
            if self.codes.pop(get("code"), None) != get("redirect_uri"):
                return "400 Bad Request", {"error": "invalid_grant", "error_description": "authentication failure"}, []
            refresh = f"refresh-{next(self.token_counter)}"
            self.refresh_tokens.add(refresh)
            form = {**form, "grant_type": ["refresh_token"], "refresh_token": [refresh]}
            status, body, headers = self._token(form)
            return status, {**body, "refresh_token": refresh}, headers
        if (
            get("grant_type") != "refresh_token"
            or get("client_id") != self.client_id
            or get("client_secret") != self.client_secret
        ):
            return "400 Bad Request", {"error": "invalid_client", "error_description": "invalid client credentials"}, []
        if get("refresh_token") not in self.refresh_tokens:
            return (
                "400 Bad Request",
                {"error": "invalid_grant", "error_description": "expired access/refresh token"},
                [],
            )
        self.token_grants += 1
        token = f"00D!access-{next(self.token_counter)}"
        self.access_tokens.add(token)
        body = {
            "access_token": token,
            "instance_url": self.instance_url,
            "id": f"{self.instance_url}/id/00D/005",
            "token_type": "Bearer",
            "issued_at": "1700000000000",
            "signature": "x",
        }
        return "200 OK", body, []

    instance_url = ""

    def _page(self, rows: list[dict[str, Any]], offset: int, cursor_id: str | None) -> tuple[str, Any, list]:
        chunk = rows[offset : offset + self.batch_size]
        done = offset + self.batch_size >= len(rows)
        body: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": chunk}
        if not done:
            if cursor_id is None:
                cursor_id = f"01g{len(self.cursors):012d}"
                self.cursors[cursor_id] = rows
            body["nextRecordsUrl"] = f"/services/data/v59.0/query/{cursor_id}-{offset + self.batch_size}"
        return "200 OK", body, []


# --- seeding -----------------------------------------------------------------------------------------------
STAGES = [
    ("Prospecting", 10, False, False),
    ("Qualification", 20, False, False),
    ("Proposal/Price Quote", 75, False, False),
    ("Negotiation/Review", 90, False, False),
    ("Closed Won", 100, True, True),
    ("Closed Lost", 0, True, False),
]


def seed_synthetic(fake: FakeSalesforce, *, opportunities: int, accounts: int = 300, users: int = 20) -> None:
    """A deterministic org: users, accounts, a contact per account, opportunities with 1-4 history rows each."""
    for i, (name, probability, closed, won) in enumerate(STAGES):
        fake.tables["OpportunityStage"].append(
            {
                "Id": f"01J{i:015d}",
                "MasterLabel": name,
                "IsClosed": closed,
                "IsWon": won,
                "DefaultProbability": probability,
                "SortOrder": i + 1,
                "IsActive": True,
                "ForecastCategoryName": "Closed" if won else "Omitted" if closed else "Pipeline",
            }
        )
    for u in range(users):
        fake.add("User", {"Id": f"005{u:015d}", "Name": f"Rep {u}", "Email": f"rep{u}@example.test"})
    for a in range(accounts):
        acc = fake.add(
            "Account",
            {
                "Id": f"001{a:015d}",
                "Name": f"Account {a}",
                "Industry": ["Tech", "Retail", "Health"][a % 3],
                "NumberOfEmployees": 50 + a,
                "AnnualRevenue": 1e6 + a * 1000,
            },
        )
        fake.add(
            "Contact",
            {
                "Id": f"003{a:015d}",
                "AccountId": acc["Id"],
                "FirstName": "Pat",
                "LastName": f"Buyer {a}",
                "Email": f"buyer{a}@example.test",
            },
        )
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for o in range(opportunities):
        created = start + timedelta(hours=7 * o)
        path = STAGES[: 1 + o % 4]
        final = STAGES[4] if o % 5 == 0 else STAGES[5] if o % 7 == 0 else path[-1]
        steps = [*path, final] if final not in path else path
        amount = 1000.0 * (1 + o % 50)
        close = (created + timedelta(days=30 + o % 60)).date()
        oid = f"006{o:015d}"
        at = created
        for s, (stage, probability, _closed, _won) in enumerate(steps):
            fake.tables["OpportunityHistory"].append(
                {
                    "Id": f"008{o:011d}{s:04d}",
                    "OpportunityId": oid,
                    "CreatedDate": sf_time(at),
                    "StageName": stage,
                    "Amount": amount + 100 * s,
                    "CloseDate": close.isoformat(),
                    "Probability": float(probability),
                    "SystemModstamp": sf_time(at),
                    "IsDeleted": False,
                }
            )
            at += timedelta(days=3 + o % 5)
        stage, probability, closed, won = steps[-1]
        # Three opportunities share each stamp: paging and resuming must handle ties.
        fake.add(
            "Opportunity",
            {
                "Id": oid,
                "Name": f"Deal {o}",
                "AccountId": f"001{o % accounts:015d}",
                "OwnerId": f"005{o % users:015d}",
                "StageName": stage,
                "Amount": amount + 100 * (len(steps) - 1),
                "Probability": float(probability),
                "CloseDate": close.isoformat(),
                "IsClosed": closed,
                "IsWon": won,
                "CreatedDate": sf_time(created),
                "LastModifiedDate": sf_time(at),
                "NextStep": f"call {o}" if o % 3 == 0 else None,
                "ForecastCategoryName": "Closed" if won else "Omitted" if closed else "Pipeline",
                "Description": "",
            },
            stamp=sf_time(fake.clock + timedelta(seconds=o // 3)),
        )
    fake.clock += timedelta(seconds=opportunities)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _time(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    for fmt in ("%m/%d/%y %I:%M %p", "%m/%d/%y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return sf_time(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    return sf_time(datetime.fromisoformat(text).replace(tzinfo=UTC))


def _date(text: str) -> str | None:
    value = _time(text)
    return value[:10] if value else None


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def _flag(text: str) -> bool:
    return text.strip().lower() in {"true", "1"}


def seed_from_export(fake: FakeSalesforce, folder: Path) -> None:
    """Serve a Salesforce export folder (the files crm.importers.salesforce reads) as the org's records."""
    files = {p.name.lower(): p for p in folder.iterdir()}
    for r in _csv_rows(files["opportunity.csv"]):
        if _flag(r.get("IsDeleted", "")):
            continue
        fake.add(
            "Opportunity",
            {
                "Id": r["Id"],
                "AccountId": r.get("AccountId") or None,
                "OwnerId": r.get("OwnerId") or None,
                "Name": r["Name"],
                "Description": r.get("Description") or None,
                "StageName": r["StageName"],
                "Amount": _number(r.get("Amount", "")),
                "Probability": _number(r.get("Probability", "")),
                "CloseDate": _date(r.get("CloseDate", "")),
                "NextStep": r.get("NextStep") or None,
                "LeadSource": r.get("LeadSource") or None,
                "Type": r.get("Type") or None,
                "IsClosed": _flag(r.get("IsClosed", "")),
                "IsWon": _flag(r.get("IsWon", "")),
                "CreatedDate": _time(r["CreatedDate"]),
                "LastModifiedDate": _time(r.get("LastModifiedDate", "")),
            },
        )
    for r in _csv_rows(files["opportunityhistory.csv"]) if "opportunityhistory.csv" in files else []:
        if _flag(r.get("IsDeleted", "")):
            continue
        fake.tables["OpportunityHistory"].append(
            {
                "Id": r["Id"],
                "OpportunityId": r["OpportunityId"],
                "CreatedDate": _time(r["CreatedDate"]),
                "StageName": r["StageName"],
                "Amount": _number(r.get("Amount", "")),
                "CloseDate": _date(r.get("CloseDate", "")),
                "Probability": _number(r.get("Probability", "")),
                "IsDeleted": False,
            }
        )
    for r in _csv_rows(files["account.csv"]) if "account.csv" in files else []:
        if _flag(r.get("IsDeleted", "")):
            continue
        fake.add(
            "Account",
            {
                "Id": r["Id"],
                "Name": r["Name"],
                "Type": r.get("Type") or None,
                "ParentId": r.get("ParentId") or None,
                "BillingCity": r.get("BillingCity") or None,
                "BillingState": r.get("BillingState") or None,
                "BillingCountry": r.get("BillingCountry") or None,
                "Website": r.get("Website") or None,
                "Industry": r.get("Industry") or None,
                "AnnualRevenue": _number(r.get("AnnualRevenue", "")),
                "NumberOfEmployees": int(_number(r.get("NumberOfEmployees", "")) or 0) or None,
                "Ownership": r.get("Ownership") or None,
                "Rating": r.get("Rating") or None,
            },
        )
    for r in _csv_rows(files["contact.csv"]) if "contact.csv" in files else []:
        if _flag(r.get("IsDeleted", "")):
            continue
        fake.add(
            "Contact",
            {
                "Id": r["Id"],
                "AccountId": r.get("AccountId") or None,
                "FirstName": r.get("FirstName") or None,
                "LastName": r.get("LastName") or r.get("Name"),
                "Email": r.get("Email") or None,
                "Phone": r.get("Phone") or r.get("MobilePhone") or None,
                "Title": r.get("Title") or None,
            },
        )


__all__ = ["FakeSalesforce", "date", "seed_from_export", "seed_synthetic"]
