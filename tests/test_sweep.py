"""Another workspace's data is unreachable: every URL under /w/<slug>/ and every link on the pages.

The sweep enumerates the URL resolver, so pages other apps add later are covered without edits here.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from html import unescape

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from alerts.models import Alert, AlertKind
from crm.models import Activity, ImportJob, ImportStatus
from crm.services import deal_create
from forecasting.models import Target
from forecasting.services import forecast_run
from scoring.models import ScoreFlag
from tenancy.models import Role
from tenancy.services import api_key_create, invitation_create
from tests.factories import CompanyFactory, ContactFactory, MembershipFactory, UserFactory, default_stage

WORKSPACE_PREFIX = "w/<slug:slug>/"
PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def workspace_routes() -> list[str]:
    """Every route (as its pattern text) under /w/<slug>/, from the live resolver."""
    found: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            if not isinstance(p.pattern, RoutePattern):
                if prefix.startswith(WORKSPACE_PREFIX):
                    found.append("<regex>")  # the assertion below reports it: this sweep fills routes only
                continue
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and route.startswith(WORKSPACE_PREFIX):
                found.append(route)

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


@pytest.fixture
def victim(personas):
    """One object of every kind in the victim workspace."""
    ws = personas.workspace
    company = CompanyFactory(workspace=ws)
    contact = ContactFactory(workspace=ws, company=company)
    deal = deal_create(
        workspace=ws, actor=personas.owner, title="Secret deal", stage=default_stage(ws), amount=Decimal("99000"),
        owner=personas.rep, company=company, contacts=[contact],
    )  # fmt: skip
    Activity.objects.create(workspace=ws, kind="call", subject="Secret call", deal=deal, company=company)
    invitation_create(workspace=ws, invited_by=personas.owner, email="new@acme.test", role="rep")
    api_key_create(workspace=ws, name="Victim key")
    return deal


def victim_uuids(workspace) -> dict[str, list[uuid.UUID]]:
    """uuids of the victim's objects, per model name, for every model with `uuid` and `workspace` fields."""
    pool: dict[str, list[uuid.UUID]] = {}
    for model in apps.get_models():
        names = {f.name for f in model._meta.get_fields()}
        if {"uuid", "workspace"} <= names:
            pool[model._meta.model_name] = list(
                model.objects.filter(workspace=workspace).values_list("uuid", flat=True)[:2]
            )
    pool["workspace"] = [workspace.uuid]
    return pool


def candidate_values(converter: str | None, name: str, pool: dict[str, list[uuid.UUID]], workspace) -> list[str]:
    if name == "slug":
        return [workspace.slug]
    if converter == "uuid" or name.endswith("uuid") or name == "id":
        stem = name.removesuffix("_uuid").replace("_", "")
        matches = [u for model, ids in pool.items() if model == stem for u in ids]
        everything = [u for ids in pool.values() for u in ids]
        return [str(u) for u in (matches or everything)] or [str(uuid.uuid4())]
    if converter == "int":
        return ["1"]
    return ["x", "1"]


def fill(route: str, pool, workspace) -> list[str]:
    paths = ["/"]
    for literal, match in zip(PARAM.split(route)[::3], [*PARAM.finditer(route), None], strict=False):
        paths = [p + literal for p in paths]
        if match is not None:
            values = candidate_values(match["converter"], match["name"], pool, workspace)
            paths = [p + v for p in paths for v in values]
    return paths


def test_sweep_every_workspace_url_as_an_outsider(personas, victim):
    routes = workspace_routes()
    assert "<regex>" not in routes
    # The CRM's own pages are among them, so the sweep cannot pass by finding nothing.
    assert "w/<slug:slug>/deals/<uuid:deal_uuid>/" in routes and "w/<slug:slug>/settings/members/" in routes
    pool = victim_uuids(personas.workspace)
    empty = sorted(name for name, ids in pool.items() if not ids)
    assert not {"deal", "company", "contact", "activity", "membership", "team", "invitation"} & set(empty)
    client = personas.client_for(personas.outsider)
    leaks, checked = [], 0
    for route in routes:
        for path in fill(route, pool, personas.workspace):
            for method in ("get", "post"):
                response = getattr(client, method)(path, {"stage": str(victim.stage.uuid), "title": "pwned"})
                checked += 1
                # 405 comes from the method check before the workspace is looked at and reveals nothing.
                if response.status_code not in {404, 405}:
                    leaks.append(f"{method.upper()} {path} -> {response.status_code}")
    assert not leaks, leaks
    assert checked >= 2 * len(routes)
    victim.refresh_from_db()
    assert victim.title == "Secret deal"


OWNER_PAGES = [
    ("crm:board", ()),
    ("crm:deal_list", ()),
    ("crm:deal_detail", ("deal",)),
    ("crm:deal_edit", ("deal",)),
    ("crm:deal_create", ()),
    ("crm:company_list", ()),
    ("crm:company_detail", ("company",)),
    ("crm:company_edit", ("company",)),
    ("crm:contact_list", ()),
    ("crm:contact_detail", ("contact",)),
    ("crm:contact_edit", ("contact",)),
    ("tenancy:workspace_settings", ()),
    ("tenancy:members", ()),
    ("tenancy:teams", ()),
    ("tenancy:team_edit", ("team",)),
    ("tenancy:invitations", ()),
]
LINK = re.compile(r'\s(?P<attr>href|hx-get|hx-post)="(?P<url>[^"]+)"')
FORM = re.compile(r"<form\b[^>]*>")
ATTR = re.compile(r'\s(?P<name>action|method)="(?P<value>[^"]*)"')


def collect_links(client, slug: str, objects: dict[str, object]) -> dict[str, set[str]]:
    from django.urls import reverse

    links: dict[str, set[str]] = {"get": set(), "post": set()}
    for name, needs in OWNER_PAGES:
        path = reverse(name, args=[slug, *(objects[n].uuid for n in needs)])
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        found = [("post" if m["attr"] == "hx-post" else "get", m["url"]) for m in LINK.finditer(html)]
        for tag in FORM.findall(html):
            attrs = {m["name"]: m["value"] for m in ATTR.finditer(tag)}
            found.append((attrs.get("method", "get").lower(), attrs.get("action", path)))
        for method, raw in found:
            url = unescape(raw)
            if url.startswith(f"/w/{slug}/"):
                links[method].add(url)
    return links


def test_crawl_every_link_of_the_owner_pages_is_404_for_an_outsider(personas, victim):
    ws = personas.workspace
    objects = {"deal": victim, "company": victim.company, "contact": victim.contacts.first(), "team": ws.teams.first()}
    links = collect_links(personas.client_for(personas.owner), ws.slug, objects)
    assert f"/w/{ws.slug}/deals/{victim.uuid}/" in links["get"]
    assert f"/w/{ws.slug}/deals/{victim.uuid}/move/" in links["post"]
    assert len(links["get"]) > 20
    outsider = personas.client_for(personas.outsider)
    leaks = [f"GET {u} -> {s}" for u in sorted(links["get"]) if (s := outsider.get(u).status_code) != 404]
    leaks += [
        f"POST {u} -> {s}"
        for u in sorted(links["post"])
        if (s := outsider.post(u, {"stage": str(victim.stage.uuid), "title": "pwned"}).status_code) != 404
    ]
    assert not leaks, leaks


# ---- Second pass: inside the workspace, as another team -------------------------------------------------

SECRETS = ("Secret deal", "Secret call", "$8,765,000")  # the victim deal, its call, East's target


@pytest.fixture
def east_secrets(personas, victim, monkeypatch):
    """What East has beyond the victim deal: an alert on it, its manager's import job, a forecast and a target."""
    monkeypatch.setattr("forecasting.compute.DEFAULT_SIMS", 200)
    ws = personas.workspace
    alert = Alert.objects.create(
        workspace=ws, deal=victim, kind=AlertKind.STALE, seen="Secret deal went quiet", why="Secret deal at risk"
    )
    job = ImportJob.objects.create(
        workspace=ws, fmt="csv", path="x/d.csv", original_name="secret.csv", status=ImportStatus.FAILED,
        created_by=personas.manager,
    )  # fmt: skip
    run = forecast_run(workspace=ws, sims=200)
    Target.objects.create(
        workspace=ws, period_start=run.period_start, period_end=run.period_end, team=personas.manager.team,
        amount=Decimal("8765000"),
    )  # fmt: skip
    return {"deal": [victim.uuid], "alert": [alert.uuid], "job": [job.uuid]}


@pytest.fixture
def west_manager(personas):
    """The manager of West, the sibling team of the victim's East."""
    west = personas.other_rep.team
    manager = MembershipFactory(
        workspace=personas.workspace, role=Role.MANAGER, team=west, user=UserFactory(email="westlead@acme.test")
    )
    west.manager = manager
    west.save(update_fields=["manager"])
    return manager


def _body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode("utf-8", errors="replace")


def _stems(route: str) -> list[str]:
    names = [m["name"] for m in PARAM.finditer(route) if m["name"] != "slug"]
    return [name.removesuffix("_uuid").replace("_", "") for name in names]


@pytest.mark.parametrize("who", ["other_rep", "west_manager"])
def test_sweep_every_workspace_url_as_another_team(personas, victim, east_secrets, west_manager, who):
    member = west_manager if who == "west_manager" else personas.other_rep
    client = personas.client_for(member)
    ws = personas.workspace
    east, rep = personas.manager.team, personas.rep
    shared = {"company": [victim.company.uuid], "contact": [victim.contacts.first().uuid]}
    routes = workspace_routes()
    leaks, with_hidden, listed = [], 0, 0
    for route in routes:
        stems = _stems(route)
        if stems and all(s in east_secrets for s in stems):
            # An id of East's: the same answer as for an id that does not exist, and never a page.
            for path in fill(route, east_secrets, ws):
                missing = path
                for ids in east_secrets.values():
                    missing = missing.replace(str(ids[0]), str(uuid.uuid4()))
                for method in ("get", "post"):
                    data = {"stage": str(victim.stage.uuid), "title": "pwned", "reason": "x", "direction": "too_low"}
                    got = getattr(client, method)(path, data).status_code
                    expected = getattr(client, method)(missing, data).status_code
                    with_hidden += 1
                    if got not in {403, 404, 405} or got != expected:
                        leaks.append(f"{method.upper()} {path} -> {got} (a missing id: {expected})")
        elif all(s in shared for s in stems):
            # A list, or a record the whole workspace shares, asked to filter by East: nothing of East shows.
            for path in fill(route, shared, ws):
                query = {"team": str(east.uuid), "rep": str(rep.uuid), "owner": str(rep.uuid)}
                response = client.get(path, query)
                listed += 1
                shown = [s for s in SECRETS if s in _body(response)]
                if response.status_code >= 500 or shown:
                    leaks.append(f"GET {path} -> {response.status_code} showing {shown}")
    assert not leaks, leaks
    # The pass reached the deal, alert and import pages and the lists, so it cannot pass by finding nothing.
    assert with_hidden >= 2 * 10 and listed >= 15
    owner_page = personas.client_for(personas.owner).get(f"/w/{ws.slug}/forecast/", {"team": str(east.uuid)})
    assert "$8,765,000" in _body(owner_page)  # the secret is on the page for someone who may see it
    victim.refresh_from_db()
    assert victim.title == "Secret deal" and not ScoreFlag.objects.exists()
