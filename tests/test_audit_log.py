"""The audit log: who changed what and when, from the web, the API, commands and bulk writes; exports too."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from alerts.models import AlertSettings, WebhookEndpoint
from crm.models import Deal
from tenancy.models import ApiKey
from tests.factories import DealFactory


def _log(slug: str = "acme", *extra: str) -> list[dict]:
    out = StringIO()
    call_command("audit_log", "--workspace", slug, *extra, "--json", stdout=out)
    return json.loads(out.getvalue())


def _minute_ago() -> str:
    return (timezone.now() - timedelta(minutes=1)).isoformat()


@pytest.mark.django_db(transaction=True)
def test_role_change_key_creation_and_export_are_logged_with_who_made_them(personas):
    owner = personas.client_for(personas.owner)
    rep = personas.rep
    prefix = str(rep.uuid)
    owner.post(reverse("tenancy:member_update", args=["acme", rep.uuid]), {f"{prefix}-role": "manager"})
    owner.post(reverse("crm_data:api_keys", args=["acme"]), {"name": "BI export", "scope": "read"})
    call_command("create_api_key", "--workspace", "acme", "--name", "nightly sync", stdout=StringIO())
    DealFactory(workspace=personas.workspace, owner=rep)
    response = owner.get(reverse("crm_data:export_deals", args=["acme"]))
    assert response.status_code == 200
    b"".join(response.streaming_content)

    log = _log("acme", "--since", _minute_ago())

    role_changes = [
        e for e in log if e["object"] == {"model": "tenancy.Membership", "id": str(rep.pk)} and e["action"] == "updated"
    ]
    assert [e["changes"]["role"] for e in role_changes] == [["rep", "manager"]]
    assert role_changes[0]["actor"] == "owner@acme.test" and role_changes[0]["action"] == "updated"

    created_keys = {e["changes"]["name"][1]: e["actor"] for e in log if e["object"]["model"] == "tenancy.ApiKey"}
    assert created_keys == {"BI export": "owner@acme.test", "nightly sync": "command create_api_key"}

    exports = [e for e in log if e["action"] == "export"]
    assert [(e["actor"], e["object"]["model"]) for e in exports] == [("owner@acme.test", "crm.Deal")]
    assert all(set(e) >= {"at", "actor", "action", "object", "changes"} for e in log)


@pytest.mark.django_db(transaction=True)
def test_secrets_never_reach_the_log(personas):
    key_hashes = list(ApiKey.objects.values_list("key_hash", flat=True))
    personas.client_for(personas.owner).post(
        reverse("crm_data:api_keys", args=["acme"]), {"name": "k", "scope": "read"}
    )
    endpoint = WebhookEndpoint.objects.create(workspace=personas.workspace, url="https://hooks.example.com/x")
    settings_row = AlertSettings.objects.create(
        workspace=personas.workspace, slack_webhook_url="https://hooks.slack.com/services/T0/B0/SECRETPART"
    )
    settings_row.slack_webhook_url = "https://hooks.slack.com/services/T0/B0/OTHERSECRET"
    settings_row.save()

    text = json.dumps(_log())
    key_hashes = list(ApiKey.objects.values_list("key_hash", flat=True))
    assert key_hashes and not any(h in text for h in key_hashes)
    assert endpoint.secret not in text and "SECRETPART" not in text and "OTHERSECRET" not in text
    changed = [e for e in _log() if e["action"] == "secret changed"]
    assert [e["object"]["model"] for e in changed] == ["alerts.AlertSettings"]
    assert changed[0]["changes"] == {"slack_webhook_url": ["(not recorded)", "(not recorded)"]}


@pytest.mark.django_db(transaction=True)
def test_api_writes_carry_the_key_and_bulk_writes_are_logged(personas):
    from tenancy.services import api_key_create

    key, raw = api_key_create(workspace=personas.workspace, name="crm sync", created_by=personas.owner)
    deal = DealFactory(workspace=personas.workspace, owner=personas.rep, title="Old title")
    response = personas.client_for(personas.owner).patch(
        f"/api/v1/deals/{deal.uuid}/",
        data={"title": "New title"},
        content_type="application/json",
        headers={"authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 200, response.content
    titles = [e for e in _log() if e["object"] == {"model": "crm.Deal", "id": str(deal.pk)} and "title" in e["changes"]]
    assert titles[0]["changes"]["title"] == ["Old title", "New title"]
    assert titles[0]["actor"] == f"API key crm sync ({key.prefix}…)"

    # COPY fires the triggers: the bulk writer's rows are logged too.
    from vectoros.bulk import copy_rows

    copy_rows(
        Deal,
        ["workspace_id", "title", "pipeline_id", "stage_id"],
        [(deal.workspace_id, "Copied", deal.pipeline_id, deal.stage_id)],
    )
    assert any(e["changes"].get("title") == [None, "Copied"] for e in _log())


def test_the_log_is_per_workspace_and_the_page_is_for_admins(personas, django_assert_max_num_queries):
    DealFactory(workspace=personas.other_workspace, title="Globex secret deal")
    for n in range(60):
        DealFactory(workspace=personas.workspace, title=f"Acme deal {n}")
    assert "Globex secret deal" not in json.dumps(_log("acme"))
    url = reverse("audit:log", args=["acme"])
    owner = personas.client_for(personas.owner)
    with django_assert_max_num_queries(60):  # a query per event table, not per event
        page = owner.get(url, {"kind": "crm.Deal"})
    html = page.content.decode()
    assert page.status_code == 200 and "Acme deal 59" in html and "Page 1 of 2" in html
    assert "Globex secret deal" not in html
    assert "Acme deal 0<" in owner.get(url, {"kind": "crm.Deal", "page": 2}).content.decode()
    assert "Acme deal" not in owner.get(url, {"actor": "owner@acme.test"}).content.decode()
    assert "Acme deal" not in owner.get(url, {"since": "2001-01-01", "until": "2001-01-02"}).content.decode()
    assert personas.client_for(personas.rep).get(url).status_code == 403
    assert personas.client_for(personas.outsider).get(url).status_code == 404
    assert personas.client_for(personas.owner).get(url, {"since": "not a date"}).status_code == 400


def test_unknown_workspace_and_bad_date_are_clear_errors(personas):
    with pytest.raises(CommandError, match="No workspace"):
        _log("nope")
    with pytest.raises(CommandError, match="not a date"):
        _log("acme", "--since", "yesterday")


def test_background_tasks_are_logged_as_the_task(personas):
    """A task run by a django-q2 worker (its own loop, in this process) writes with `actor: task FUNC`."""
    from multiprocessing import Queue, Value

    from django_q.worker import worker

    tasks, results = Queue(), Queue()
    tasks.put(
        {
            "id": "t1",
            "name": "audit-test",
            "func": "crm.services.company_save",
            "args": (),
            "kwargs": {"workspace": personas.workspace, "name": "Made by a task"},
            "sync": True,  # keeps the test's database connection open
        }
    )
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1), timeout=60)
    created = [e for e in _log() if e["changes"].get("name") == [None, "Made by a task"]]
    assert [e["actor"] for e in created] == ["task crm.services.company_save"]


@pytest.mark.django_db(transaction=True)
def test_comments_and_tasks_are_in_the_audit_log(personas):
    """Collab's writes are logged like the CRM's: a comment and a task on a deal, with who made them."""
    from collab.services import comment_create, task_create

    deal = DealFactory(workspace=personas.workspace, owner=personas.rep)
    comment_create(author=personas.rep, body="Call them **Monday**", deal=deal)
    task_create(actor=personas.rep, deal=deal, title="Send the proposal")
    log = _log("acme", "--since", _minute_ago())
    created = {e["object"]["model"] for e in log if e["action"] == "created"}
    assert {"collab.Comment", "collab.Task"} <= created
    task = next(e for e in log if e["object"]["model"] == "collab.Task")
    assert task["changes"]["title"] == [None, "Send the proposal"]
