"""The request's Scope: what each persona sees and may change, and every screen that used to leak past it."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import Client
from django.urls import reverse

from crm.importers import run_import
from crm.models import Deal, ImportJob, ImportStatus
from crm.services import deal_create, deal_move_to_stage
from forecasting.models import Target
from forecasting.services import forecast_run, target_set
from scoring.models import ScoreFlag
from tenancy.models import Membership, Role, Team
from tenancy.scope import Scope
from tenancy.services import api_key_create
from tests.factories import CompanyFactory, MembershipFactory, TeamFactory, UserFactory, default_stage

NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)
WEST_TARGET = Decimal("4321000")  # a figure nothing else on the page can show


def _deal(personas, owner, title: str, amount: int = 10_000, **extra) -> Deal:
    return deal_create(
        workspace=personas.workspace,
        actor=owner,
        title=title,
        stage=extra.pop("stage", default_stage(personas.workspace)),
        amount=Decimal(amount),
        owner=owner,
        **extra,
    )


@pytest.fixture
def south(personas) -> tuple[Team, Membership]:
    """A team below East (the manager sees it) with its own rep."""
    team = TeamFactory(workspace=personas.workspace, name="South", parent=personas.manager.team)
    rep = MembershipFactory(workspace=personas.workspace, role=Role.REP, team=team, user=UserFactory())
    return team, rep


# ---- the Scope itself -------------------------------------------------------------------------------


def test_who_sees_which_owners_and_teams(personas, south):
    south_team, south_rep = south
    east, west = personas.manager.team, personas.other_rep.team
    everyone = Scope.for_member(personas.owner)
    assert everyone.owner_ids is None and everyone.team_ids is None
    assert Scope.for_member(personas.viewer).owner_ids is None
    assert Scope.whole_workspace(personas.workspace).owner_ids is None

    rep = Scope.for_member(personas.rep)
    assert rep.owner_ids == {personas.rep.id, personas.manager.id}
    assert set(rep.teams()) == {east}
    assert rep.can_see_team(east) and not rep.can_see_team(west) and not rep.can_see_team(south_team)

    manager = Scope.for_member(personas.manager)
    assert manager.owner_ids == {personas.manager.id, personas.rep.id, south_rep.id}
    assert set(manager.teams()) == {east, south_team}
    assert set(manager.reps()) == {personas.manager, personas.rep, south_rep}
    assert not manager.can_see_team(west)


def test_the_owner_set_is_computed_once_per_scope(personas, django_assert_num_queries):
    scope = Scope.for_member(personas.manager)
    with django_assert_num_queries(2):  # the team tree, then the members of those teams
        first = scope.owner_ids
    with django_assert_num_queries(0):
        assert scope.owner_ids is first
        assert scope.team_ids is not None


def test_get_answers_404_alike_for_hidden_missing_and_malformed(personas):
    west_deal = _deal(personas, personas.other_rep, "West deal")
    east_deal = _deal(personas, personas.rep, "East deal")
    rep = Scope.for_member(personas.rep)
    assert rep.get(Deal, east_deal.uuid) == east_deal
    for value in (west_deal.uuid, uuid.uuid4(), "not-a-uuid"):
        with pytest.raises(Http404):
            rep.get(Deal, value)
    with pytest.raises(Http404):
        rep.get(Team, personas.other_rep.team.uuid)
    with pytest.raises(Http404):
        rep.get(Membership, personas.other_rep.uuid)
    assert Scope.for_member(personas.owner).get(Deal, west_deal.uuid) == west_deal
    outsider = Scope.for_member(personas.outsider)
    with pytest.raises(Http404):
        outsider.get(Deal, east_deal.uuid)
    assert list(rep.deals()) == [east_deal]


def test_who_may_set_which_target(personas, south):
    south_team, south_rep = south
    east, west = personas.manager.team, personas.other_rep.team
    owner, manager = Scope.for_member(personas.owner), Scope.for_member(personas.manager)
    assert owner.can_set_target() and owner.can_set_target(team=west) and owner.can_set_target(rep=personas.other_rep)
    assert manager.can_set_target(team=east) and manager.can_set_target(team=south_team)
    assert manager.can_set_target(rep=personas.rep) and manager.can_set_target(rep=south_rep)
    assert not manager.can_set_target() and not manager.can_set_target(team=west)
    assert not manager.can_set_target(rep=personas.other_rep)
    for limited in (personas.rep, personas.viewer):
        scope = Scope.for_member(limited)
        assert not scope.sets_any_target
        assert not scope.can_set_target() and not scope.can_set_target(team=east)
    with pytest.raises(PermissionDenied):
        target_set(scope=manager, period_start=date(2026, 4, 1), period_end=date(2026, 6, 30), amount=1, team=west)
    assert not Target.objects.exists()


# ---- the forecast dashboard and targets ---------------------------------------------------------------


@pytest.fixture
def run(personas, monkeypatch):
    monkeypatch.setattr("forecasting.compute.DEFAULT_SIMS", 300)
    for i in range(16):
        owner = personas.rep if i % 2 else personas.other_rep
        created = NOW - timedelta(days=150 - 8 * i)
        deal = _deal(
            personas, owner, f"Deal {i}", 10_000 + 500 * i, stage=default_stage(personas.workspace, "Qualification"),
            at=created, created_at=created,
        )  # fmt: skip
        if i < 10 or i in (12, 13):  # 12 and 13 are won inside the forecast's quarter, one per team
            with time_machine.travel(created + timedelta(days=15 if i < 10 else 20), tick=False):
                closed = "Closed Won" if i % 3 or i > 10 else "Closed Lost"
                deal_move_to_stage(deal=deal, stage=default_stage(personas.workspace, closed), actor=owner)
    with time_machine.travel(NOW, tick=False):
        found = forecast_run(workspace=personas.workspace, sims=300)
    Target.objects.create(
        workspace=personas.workspace,
        period_start=found.period_start,
        period_end=found.period_end,
        team=personas.other_rep.team,
        amount=WEST_TARGET,
    )
    return found


def _dashboard(client: Client, **query: object) -> str:
    response = client.get(reverse("forecasting:dashboard", args=["acme"]), query)
    assert response.status_code == 200
    return response.content.decode()


def _by_team(page: str) -> str:
    return page.split("<h2>By team</h2>", 1)[1].split("</table>", 1)[0]


def test_a_rep_asking_for_another_team_or_rep_sees_only_their_own(personas, run):
    west = personas.other_rep.team
    owner_page = _dashboard(personas.client_for(personas.owner), team=west.uuid)
    assert "$4,321,000" in owner_page and "West" in _by_team(owner_page)  # what must not reach the rep
    client = personas.client_for(personas.rep)
    for query in ({"team": west.uuid}, {"rep": personas.other_rep.uuid}, {}):
        page = _dashboard(client, **query)
        assert "$4,321,000" not in page
        assert "West" not in page and personas.other_rep.display_name not in page
        assert "East" in _by_team(page)


def test_a_reps_distribution_is_their_teams_not_the_workspaces(personas, run):
    from forecasting.charts import money

    workspace_p50 = f"P50 {money(run.p50)}"
    east = next(t for t in run.rollups["teams"] if t["name"] == "East")
    assert money(east["p50"]) != money(run.p50)  # the two differ, so the check below can tell them apart
    assert workspace_p50 in _dashboard(personas.client_for(personas.owner))
    page = _dashboard(personas.client_for(personas.rep))
    assert workspace_p50 not in page and f"P50 {money(east['p50'])}" in page


def test_the_by_team_table_lists_only_teams_in_sight(personas, run):
    assert "West" not in _by_team(_dashboard(personas.client_for(personas.manager)))
    assert "East" in _by_team(_dashboard(personas.client_for(personas.manager)))
    viewer = _by_team(_dashboard(personas.client_for(personas.viewer)))
    assert "West" in viewer and "East" in viewer


def test_target_posts_are_refused_outside_the_members_reach(personas, run):
    url = reverse("forecasting:target_save", args=["acme"])
    east, west = personas.manager.team, personas.other_rep.team
    rep = personas.client_for(personas.rep)
    for extra in ({}, {"team": east.uuid}, {"rep": personas.rep.uuid}):
        assert rep.post(url, {"amount": "1000", **extra}).status_code == 403
    manager = personas.client_for(personas.manager)
    assert manager.post(url, {"amount": "1000"}).status_code == 403
    assert manager.post(url, {"amount": "1000", "team": west.uuid}).status_code == 403
    assert manager.post(url, {"amount": "1000", "rep": personas.other_rep.uuid}).status_code == 403
    assert Target.objects.count() == 1  # only the fixture's West target
    assert manager.post(url, {"amount": "2000", "team": east.uuid}).status_code == 302
    assert manager.post(url, {"amount": "3000", "rep": personas.rep.uuid}).status_code == 302
    assert personas.client_for(personas.owner).post(url, {"amount": "5000", "team": west.uuid}).status_code == 302
    saved = {(t.team_id, t.owner_id): t.amount for t in Target.objects.all()}
    assert saved == {(east.id, None): 2000, (None, personas.rep.id): 3000, (west.id, None): 5000}


def test_the_target_form_offers_only_what_the_member_may_set(personas, run):
    page = _dashboard(personas.client_for(personas.manager))
    form = page.split('action="/w/acme/forecast/targets/"', 1)[1].split("</form>", 1)[0]
    assert "East" in form and "West" not in form and personas.other_rep.display_name not in form
    assert 'action="/w/acme/forecast/targets/"' not in _dashboard(personas.client_for(personas.rep))


# ---- company counts, flags ---------------------------------------------------------------------------


def test_company_list_counts_only_deals_in_sight(personas):
    company = CompanyFactory(workspace=personas.workspace, name="Initech")
    _deal(personas, personas.rep, "Mine", company=company)
    for i in range(2):
        _deal(personas, personas.other_rep, f"Theirs {i}", company=company)

    def count_for(member: Membership) -> int:
        page = personas.client_for(member).get(reverse("crm:company_list", args=["acme"])).content.decode()
        return int(re.search(r'Initech</a>.*?<td class="num">(\d+)</td></tr>', page, re.S).group(1))

    assert count_for(personas.owner) == 3
    assert count_for(personas.rep) == 1
    assert count_for(personas.other_rep) == 2


def test_managers_see_score_flags_only_on_deals_in_sight(personas):
    for owner, reason in ((personas.rep, "east reason"), (personas.other_rep, "west reason")):
        deal = _deal(personas, owner, f"Flagged {reason}")
        ScoreFlag.objects.create(
            workspace=personas.workspace, deal=deal, flagged_by=owner, direction="too_low", reason=reason,
            score_at_flag=0.2,
        )  # fmt: skip
    url = reverse("scoring:model", args=["acme"])
    manager = personas.client_for(personas.manager).get(url).content.decode()
    assert "east reason" in manager and "west reason" not in manager
    owner = personas.client_for(personas.owner).get(url).content.decode()
    assert "east reason" in owner and "west reason" in owner


# ---- imports -----------------------------------------------------------------------------------------

CSV_MAPPING = {"external_id": "Ref", "title": "Deal", "amount": "Value", "created": "Opened"}


def _csv(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "deals.csv"
    path.write_text("Ref,Deal,Value,Opened\n" + rows, encoding="utf-8")
    return path


def test_a_managers_import_cannot_overwrite_a_deal_outside_their_teams(personas, tmp_path):
    west = _deal(personas, personas.other_rep, "West original", 7000, external_id="W-1")
    east = _deal(personas, personas.rep, "East original", 5000, external_id="E-1")
    rows = "W-1,Hijacked,1,2024-01-02\nE-1,East renamed,6000,2024-01-02\nN-1,New one,100,2024-01-03\n"
    manager = Scope.for_member(personas.manager)

    refused = run_import(workspace=personas.workspace, fmt="csv", path=_csv(tmp_path, rows), mapping=CSV_MAPPING,
                         actor=personas.manager, scope=manager)  # fmt: skip
    assert not refused.written
    assert [(e.row, e.message) for e in refused.errors] == [
        (2, "“W-1” is a deal outside the teams you can see; the row was refused")
    ]
    west.refresh_from_db()
    east.refresh_from_db()
    assert (west.title, west.amount, east.title) == ("West original", 7000, "East original")

    report = run_import(workspace=personas.workspace, fmt="csv", path=_csv(tmp_path, rows), mapping=CSV_MAPPING,
                        actor=personas.manager, scope=manager, skip_invalid=True)  # fmt: skip
    assert report.written and report.skipped == 1 and len(report.errors) == 1
    west.refresh_from_db()
    east.refresh_from_db()
    assert (west.title, west.amount) == ("West original", 7000)
    assert east.title == "East renamed" and Deal.objects.filter(external_id="N-1").exists()

    # The command line (and an owner) import for the whole workspace.
    whole = run_import(workspace=personas.workspace, fmt="csv", path=_csv(tmp_path, rows), mapping=CSV_MAPPING)
    assert whole.written and not whole.errors
    west.refresh_from_db()
    assert west.title == "Hijacked"


def test_a_web_import_runs_with_the_scope_of_the_member_who_started_it(personas, tmp_path, settings):
    from crm.importers import jobs

    west = _deal(personas, personas.other_rep, "West original", 7000, external_id="W-1")
    folder = Path(jobs.upload_root(personas.workspace))
    folder.mkdir(parents=True)
    (folder / "d.csv").write_text("Ref,Deal,Value,Opened\nW-1,Hijacked,1,2024-01-02\n", encoding="utf-8")
    job = ImportJob.objects.create(
        workspace=personas.workspace, fmt="csv", path=str(folder.relative_to(settings.UPLOADS_DIR) / "d.csv"),
        original_name="d.csv", status=ImportStatus.QUEUED, created_by=personas.manager, mapping=CSV_MAPPING,
    )  # fmt: skip
    done = jobs.import_job_run(job_id=job.id)
    assert done.status == ImportStatus.FAILED
    assert "outside the teams you can see" in done.report["errors"][0]["message"]
    west.refresh_from_db()
    assert west.title == "West original"
    # Another manager cannot even open that job's page.
    sibling = MembershipFactory(workspace=personas.workspace, role=Role.MANAGER, user=UserFactory())
    page = reverse("crm_data:import_job", args=["acme", job.uuid])
    assert personas.client_for(sibling).get(page).status_code == 404
    assert personas.client_for(personas.manager).get(page).status_code == 200


# ---- one DealFilters behind the list, the export and the API ------------------------------------------


@pytest.fixture
def spread(personas):
    ws = personas.workspace
    deals = []
    for i, (owner, stage) in enumerate(
        [(personas.rep, "Prospecting"), (personas.rep, "Qualification"), (personas.manager, "Prospecting"),
         (personas.other_rep, "Prospecting"), (personas.rep, "Closed Won"), (personas.other_rep, "Qualification")]
    ):  # fmt: skip
        close = date(2026, 5, 1) + timedelta(days=10 * i)
        deals.append(_deal(personas, owner, f"Spread {i}", 1000 * (i + 1), expected_close_date=close))
        if stage != "Prospecting":
            deal_move_to_stage(deal=deals[-1], stage=default_stage(ws, stage), actor=owner)
    return deals


def _listed(client: Client, query: dict[str, str]) -> list[str]:
    # The list shows open deals unless told otherwise; export and API filter nothing they are not asked to.
    query = {"outcome": "all", **query}
    page = client.get(reverse("crm:deal_list", args=["acme"]), query).content.decode()
    return list(dict.fromkeys(re.findall(r'href="/w/acme/deals/([0-9a-f-]{36})/"', page)))


def _exported(client: Client, query: dict[str, str]) -> list[str]:
    response = client.get(reverse("crm_data:export_deals", args=["acme"]), query)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return [row[0] for row in list(csv.reader(io.StringIO(text)))[1:]]


def _api(raw_key: str, query: dict[str, str]) -> list[str]:
    response = Client().get("/api/v1/deals/", query, headers={"authorization": f"Bearer {raw_key}"})
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"team": "east", "outcome": "open"},
        {"stage": "qualification", "sort": "expected_close_date"},
        {"close": "custom", "close_from": "2026-05-05", "close_to": "2026-06-14", "sort": "amount"},
        {"q": "Spread", "owner": "rep", "sort": "title"},
    ],
)
def test_list_export_and_api_return_the_same_deals_for_the_same_filters(personas, spread, query):
    ws = personas.workspace
    names = {
        "east": str(personas.manager.team.uuid),
        "qualification": str(default_stage(ws, "Qualification").uuid),
        "rep": str(personas.rep.uuid),
    }
    query = {k: names.get(v, v) for k, v in query.items()}
    _key, raw = api_key_create(workspace=ws, name="filters")
    owner = personas.client_for(personas.owner)
    listed = _listed(owner, query)
    assert listed, query
    assert listed == _exported(owner, query) == _api(raw, query)
    if query:
        assert len(listed) < len(spread)
    rep = personas.client_for(personas.rep)
    mine = _listed(rep, query)
    assert mine == _exported(rep, query)
    assert {str(d.uuid) for d in spread if d.owner_id == personas.other_rep.id}.isdisjoint(mine)


def test_a_filter_for_another_team_is_a_clear_error_not_their_deals(personas, spread):
    west = {"team": str(personas.other_rep.team.uuid)}
    rep = personas.client_for(personas.rep)
    page = rep.get(reverse("crm:deal_list", args=["acme"]), west).content.decode()
    assert "Select a valid choice" in page and "Spread 3" not in page
    response = rep.get(reverse("crm_data:export_deals", args=["acme"]), west)
    assert response.status_code == 400 and b"team" in response.content
    _key, raw = api_key_create(workspace=personas.workspace, name="filters")
    bad = Client().get("/api/v1/deals/", {"owner": str(uuid.uuid4())}, headers={"authorization": f"Bearer {raw}"})
    assert bad.status_code == 404 and bad.json()["errors"][0]["loc"] == ["query", "owner"]


def test_a_deal_cannot_be_handed_to_someone_out_of_sight(personas):
    ws = personas.workspace
    deal = _deal(personas, personas.rep, "East deal")
    stage = default_stage(ws)
    data = {"title": "East deal", "stage": stage.uuid, "amount": "10000", "owner": personas.other_rep.uuid}
    manager = personas.client_for(personas.manager)
    response = manager.post(reverse("crm:deal_edit", args=["acme", deal.uuid]), data)
    assert response.status_code == 422 and "Select a valid choice" in response.content.decode()
    deal.refresh_from_db()
    assert deal.owner == personas.rep
    response = personas.client_for(personas.rep).post(reverse("crm:deal_create", args=["acme"]), data)
    assert response.status_code == 422 and not Deal.objects.filter(owner=personas.other_rep).exists()
    # Within sight it works, and an owner may hand it to anyone.
    edited = manager.post(reverse("crm:deal_edit", args=["acme", deal.uuid]), {**data, "owner": personas.manager.uuid})
    deal.refresh_from_db()
    assert edited.status_code == 302 and deal.owner == personas.manager
    owner = personas.client_for(personas.owner)
    assert owner.post(reverse("crm:deal_edit", args=["acme", deal.uuid]), data).status_code == 302
    deal.refresh_from_db()
    assert deal.owner == personas.other_rep
