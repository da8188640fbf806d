"""Comments and tasks in the REST API (/api/v1/collab/): scoped keys, authors, mentions, problems."""

from __future__ import annotations

import pytest
from django.test import Client

from collab.models import Comment, Notification, Task
from tenancy.models import ApiKeyScope
from tenancy.services import api_key_create
from tests.factories import make_deal

PROBLEM = "application/problem+json"


def key_client(personas, member=None, scope=ApiKeyScope.WRITE):
    _key, raw = api_key_create(workspace=personas.workspace, name="k", created_by=member, scope=scope)
    return Client(headers={"authorization": f"Bearer {raw}"})


@pytest.fixture
def deal(personas):
    return make_deal(personas.workspace, title="Hooli", owner=personas.rep, actor=personas.rep)


def test_a_member_key_comments_mentions_and_edits_only_its_own(personas, deal):
    rep = key_client(personas, personas.rep)
    url = f"/api/v1/collab/deals/{deal.uuid}/comments/"
    body = {"body": "@manager please review", "mentions": [str(personas.other_rep.uuid)]}
    created = rep.post(url, body, content_type="application/json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["author"] == str(personas.rep.uuid) and data["mentions"] == [str(personas.manager.uuid)]
    assert Notification.objects.get().recipient == personas.manager

    listed = rep.get(url).json()
    assert listed["count"] == 1 and listed["items"][0]["body"] == "@manager please review"

    manager = key_client(personas, personas.manager)
    patch = manager.patch(
        f"/api/v1/collab/comments/{data['id']}/", {"body": "mine now"}, content_type="application/json"
    )
    assert patch.status_code == 403 and patch["Content-Type"] == PROBLEM
    ok = rep.patch(f"/api/v1/collab/comments/{data['id']}/", {"body": "edited"}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["edited_at"]
    assert Comment.objects.get().body == "edited"

    # West's key cannot see the deal or its comments; an unknown member id in mentions is a 404.
    west = key_client(personas, personas.other_rep)
    assert west.get(url).status_code == 404
    assert west.get(f"/api/v1/collab/comments/{data['id']}/").status_code == 404
    unknown = rep.post(url, {"body": "x", "mentions": [str(personas.outsider.uuid)]}, content_type="application/json")
    assert unknown.status_code == 404 and unknown["Content-Type"] == PROBLEM
    assert rep.delete(f"/api/v1/collab/comments/{data['id']}/").status_code == 204
    assert not Comment.objects.exists()


def test_read_only_keys_cannot_write_and_blank_comments_are_refused(personas, deal):
    reader = key_client(personas, personas.rep, scope=ApiKeyScope.READ)
    url = f"/api/v1/collab/deals/{deal.uuid}/comments/"
    assert reader.post(url, {"body": "x"}, content_type="application/json").status_code == 403
    writer = key_client(personas, personas.rep)
    blank = writer.post(url, {"body": "   "}, content_type="application/json")
    assert blank.status_code == 422 and blank["Content-Type"] == PROBLEM
    assert not Comment.objects.exists()


def test_tasks_through_the_api(personas, deal):
    rep = key_client(personas, personas.rep)
    created = rep.post(
        f"/api/v1/collab/deals/{deal.uuid}/tasks/",
        {"title": "Send contract", "due_date": "2026-03-12"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    task = created.json()
    assert task["assignee"] == str(personas.rep.uuid) and task["due_date"] == "2026-03-12" and not task["done"]
    done = rep.patch(f"/api/v1/collab/tasks/{task['id']}/", {"done": True}, content_type="application/json")
    assert done.status_code == 200 and done.json()["done"] and done.json()["done_at"]
    mine = rep.get("/api/v1/collab/tasks/", {"assignee": str(personas.rep.uuid), "done": "true"}).json()
    assert [t["title"] for t in mine["items"]] == ["Send contract"]
    refused = rep.patch(
        f"/api/v1/collab/tasks/{task['id']}/",
        {"assignee": str(personas.other_rep.uuid)},
        content_type="application/json",
    )
    assert refused.status_code == 422 and Task.objects.get().assignee == personas.rep
    assert key_client(personas, personas.other_rep).get(f"/api/v1/collab/tasks/{task['id']}/").status_code == 404
