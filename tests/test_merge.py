"""Merging duplicates keeps every deal, contact, activity and history row, and an undo within 30 days restores
exactly what was there; on the page and through the API."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from crm.merge import MergeRefused, merge_undo, record_merge
from crm.models import Activity, ActivityKind, Company, Contact, Deal, DealHistory, MergeRecord
from crm.services import activity_log, deal_delete
from customers.models import Customer
from tenancy.services import api_key_create
from tests.factories import CompanyFactory, ContactFactory, make_deal


def _links(ws) -> dict[str, list]:
    """Every link that a merge may move, as plain values: what an exact undo must give back."""
    return {
        "deals": sorted(Deal.all_objects.for_workspace(ws).values_list("id", "company_id", "deleted_at")),
        "contacts": sorted(Contact.objects.for_workspace(ws).values_list("id", "company_id")),
        "activities": sorted(Activity.objects.for_workspace(ws).values_list("id", "company_id", "deal_id")),
        "deal_contacts": sorted(Deal.contacts.through.objects.values_list("deal_id", "contact_id")),
        "activity_contacts": sorted(Activity.contacts.through.objects.values_list("activity_id", "contact_id")),
        "subsidiaries": sorted(Company.objects.for_workspace(ws).values_list("id", "parent_id")),
        "history": DealHistory.objects.for_workspace(ws).count(),
    }


@pytest.fixture
def acme(personas):
    """Two spellings of one company, each with deals (one deleted), contacts, activities and a subsidiary."""
    ws, owner = personas.workspace, personas.owner
    keep = CompanyFactory(workspace=ws, name="Acme Inc", domain="acme.com")
    dup = CompanyFactory(workspace=ws, name="ACME, Inc.", external_id="SF-001")
    CompanyFactory(workspace=ws, name="Acme Labs", parent=dup)
    ann = ContactFactory(workspace=ws, first_name="Ann", last_name="Lee", company=keep)
    bob = ContactFactory(workspace=ws, first_name="Bob", last_name="Ray", company=dup)
    kept_deal = make_deal(ws, title="Platform", company=keep, contacts=[ann])
    dup_deal = make_deal(ws, title="Renewal", company=dup, contacts=[bob, ann])
    gone = make_deal(ws, title="Old pilot", company=dup)
    deal_delete(deal=gone, actor=owner)
    activity_log(workspace=ws, actor=owner, kind=ActivityKind.CALL, subject="Intro", company=dup, contacts=[bob])
    activity_log(workspace=ws, actor=owner, kind=ActivityKind.EMAIL, subject="Quote", deal=dup_deal, company=dup)
    activity_log(workspace=ws, actor=owner, kind=ActivityKind.MEETING, subject="Kick-off", deal=kept_deal)
    return keep, dup, ann, bob, kept_deal, dup_deal, gone


def test_company_merge_moves_everything_and_undo_restores_exactly(personas, acme):
    ws = personas.workspace
    keep, dup, _ann, bob, _kept_deal, dup_deal, gone = acme
    before = _links(ws)
    record = record_merge(workspace=ws, kind="companies", target=keep, source=dup, actor=personas.owner)

    assert not Company.objects.filter(pk=dup.pk).exists()
    assert set(Deal.all_objects.filter(company=keep).values_list("title", flat=True)) == {
        "Platform", "Renewal", "Old pilot"
    }  # fmt: skip
    assert Contact.objects.get(pk=bob.pk).company_id == keep.pk
    assert Activity.objects.filter(company=keep).count() == 3  # Kick-off was there already
    assert Company.objects.get(name="Acme Labs").parent_id == keep.pk
    assert DealHistory.objects.for_workspace(ws).count() == before["history"]  # no history lost
    assert record.moved_count == 6 and record.source_label == "ACME, Inc." and record.merged_by == personas.owner

    merge_undo(record=record, actor=personas.owner)
    restored = Company.objects.get(pk=dup.pk)
    assert (restored.uuid, restored.name, restored.external_id) == (dup.uuid, "ACME, Inc.", "SF-001")
    assert _links(ws) == before
    assert (
        Deal.all_objects.get(pk=gone.pk).company_id == dup.pk and Deal.objects.get(pk=dup_deal.pk).company == restored
    )
    record.refresh_from_db()
    assert record.undone_at is not None and record.undone_by == personas.owner
    with pytest.raises(MergeRefused, match="already undone"):
        merge_undo(record=record, actor=personas.owner)


def test_contact_merge_sets_aside_a_link_both_have_and_undo_puts_it_back(personas, acme):
    ws = personas.workspace
    _keep, _dup, ann, bob, kept_deal, dup_deal, _gone = acme
    before = _links(ws)
    record = record_merge(workspace=ws, kind="contacts", target=ann, source=bob, actor=personas.rep)
    assert not Contact.objects.filter(pk=bob.pk).exists()
    # Renewal had both: it keeps one link to Ann; Bob's activity is Ann's now.
    assert list(Deal.objects.get(pk=dup_deal.pk).contacts.all()) == [ann]
    assert Activity.objects.get(subject="Intro").contacts.get() == ann
    assert Deal.objects.get(pk=kept_deal.pk).contacts.get() == ann
    merge_undo(record=record, actor=personas.rep)
    assert _links(ws) == before
    assert set(Deal.objects.get(pk=dup_deal.pk).contacts.values_list("first_name", flat=True)) == {"Ann", "Bob"}


def test_deal_merge_keeps_both_histories_and_undo_brings_the_deal_back(personas, acme):
    ws = personas.workspace
    _keep, _dup, ann, bob, kept_deal, dup_deal, _gone = acme
    before = _links(ws)
    dup_history = list(DealHistory.objects.filter(deal=dup_deal).values_list("id", flat=True))
    record = record_merge(workspace=ws, kind="deals", target=kept_deal, source=dup_deal, actor=personas.owner)

    assert not Deal.objects.filter(pk=dup_deal.pk).exists()  # hidden everywhere (soft-deleted)
    assert set(Activity.objects.filter(deal=kept_deal).values_list("subject", flat=True)) == {"Kick-off", "Quote"}
    assert set(Deal.objects.get(pk=kept_deal.pk).contacts.all()) == {ann, bob}
    # The merged deal keeps its own past (plus the "deleted" row); nothing of it is folded into the survivor's.
    assert set(dup_history) <= set(DealHistory.objects.filter(deal=dup_deal).values_list("id", flat=True))
    assert not DealHistory.objects.filter(deal=kept_deal, id__in=dup_history).exists()

    merge_undo(record=record, actor=personas.owner)
    after = _links(ws)
    assert after["deals"] == before["deals"] and after["activities"] == before["activities"]
    assert after["deal_contacts"] == before["deal_contacts"]
    assert Deal.objects.get(pk=dup_deal.pk).title == "Renewal"


def test_undo_after_30_days_is_refused_with_a_message(personas, acme):
    keep, dup, *_ = acme
    start = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        record = record_merge(workspace=personas.workspace, kind="companies", target=keep, source=dup, actor=None)
    with time_machine.travel(start + dt.timedelta(days=31), tick=False):
        with pytest.raises(MergeRefused, match="made on 2026-03-01; a merge can be undone for 30 days"):
            merge_undo(record=record, actor=None)
        page = personas.client_for(personas.owner).post(
            reverse("crm_data:merge_undo", args=["acme", record.uuid]), follow=True
        )
    assert "Not undone: this merge was made on 2026-03-01" in page.content.decode()
    assert not Company.objects.filter(pk=dup.pk).exists()


def test_undo_refuses_when_the_merged_record_cannot_come_back_as_it_was(personas, acme):
    ws = personas.workspace
    _keep, _dup, ann, bob, *_ = acme
    other = CompanyFactory(workspace=ws, name="Hooli")
    Contact.objects.filter(pk=bob.pk).update(company=other)
    record = record_merge(workspace=ws, kind="contacts", target=ann, source=bob, actor=None)
    Company.objects.filter(pk=other.pk).delete()  # Bob's company is gone since
    before = _links(ws)
    with pytest.raises(MergeRefused, match="cannot be restored as it was"):
        merge_undo(record=record, actor=None)
    assert _links(ws) == before and not Contact.objects.filter(pk=bob.pk).exists()


def test_merge_refuses_what_needs_a_decision(personas, acme):
    ws = personas.workspace
    keep, dup, *_ = acme
    with pytest.raises(MergeRefused, match="cannot be merged into itself"):
        record_merge(workspace=ws, kind="companies", target=keep, source=keep, actor=None)
    Customer.objects.create(workspace=ws, company=keep)
    Customer.objects.create(workspace=ws, company=dup)
    before = _links(ws)
    with pytest.raises(MergeRefused, match="both have a customer"):
        record_merge(workspace=ws, kind="companies", target=keep, source=dup, actor=None)
    assert _links(ws) == before and Company.objects.filter(pk=dup.pk).exists()


def test_merge_page_permissions_and_undo_link(personas, acme):
    keep, dup, *_ = acme
    url = reverse("crm_data:duplicates_merge", args=["acme", "companies"])
    page_url = reverse("crm_data:duplicates", args=["acme", "companies"])
    assert personas.client_for(personas.viewer).post(url, {"keep": keep.uuid, "merge": dup.uuid}).status_code == 403
    assert personas.client_for(personas.outsider).post(url, {"keep": keep.uuid, "merge": dup.uuid}).status_code == 404
    theirs = CompanyFactory(workspace=personas.other_workspace, name="Acme Inc")
    owner = personas.client_for(personas.owner)
    assert owner.post(url, {"keep": keep.uuid, "merge": theirs.uuid}).status_code == 404
    assert owner.get(url).status_code == 405
    page = owner.get(page_url).content.decode()
    assert "ACME, Inc." in page and "same name once case, punctuation and legal suffixes are ignored" in page
    done = owner.post(url, {"keep": keep.uuid, "merge": dup.uuid}, follow=True).content.decode()
    assert "“ACME, Inc.” merged into “Acme Inc”" in done and ">Undo</button>" in done
    record = MergeRecord.objects.get()
    assert (
        personas.client_for(personas.viewer)
        .post(reverse("crm_data:merge_undo", args=["acme", record.uuid]))
        .status_code
        == 403
    )
    undone = owner.post(reverse("crm_data:merge_undo", args=["acme", record.uuid]), follow=True).content.decode()
    assert "Merge undone" in undone and Company.objects.filter(uuid=dup.uuid).exists()


def _api(raw: str):
    from django.test import Client

    return Client(headers={"Authorization": f"Bearer {raw}"})


def test_merge_through_the_api(personas, acme):
    keep, dup, ann, bob, kept_deal, _dup_deal, _gone = acme
    _key, raw = api_key_create(workspace=personas.workspace, name="t", created_by=personas.owner)
    api = _api(raw)
    response = api.post(
        f"/api/v1/companies/{keep.uuid}/merge/", {"from": str(dup.uuid)}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["into"] == str(keep.uuid) and body["merged"] == str(dup.uuid)
    assert (
        body["moved"] == {"crm.activity": 2, "crm.company": 1, "crm.contact": 1, "crm.deal": 2}
        and body["undone_at"] is None
    )
    again = api.post(f"/api/v1/companies/{keep.uuid}/merge/", {"from": str(dup.uuid)}, content_type="application/json")
    assert again.status_code == 404 and again["Content-Type"] == "application/problem+json"
    same = api.post(
        f"/api/v1/deals/{kept_deal.uuid}/merge/", {"from": str(kept_deal.uuid)}, content_type="application/json"
    )
    assert same.status_code == 409 and "itself" in same.json()["detail"]
    undo = api.post(f"/api/v1/merges/{body['id']}/undo/")
    assert undo.status_code == 200 and undo.json()["undone_at"] is not None
    assert Company.objects.filter(uuid=dup.uuid).exists()

    theirs = CompanyFactory(workspace=personas.other_workspace, name="Acme")
    cross = api.post(
        f"/api/v1/companies/{keep.uuid}/merge/", {"from": str(theirs.uuid)}, content_type="application/json"
    )
    assert cross.status_code == 404 and cross.json()["errors"][0]["loc"] == ["body", "from"]
    _other, raw_other = api_key_create(workspace=personas.other_workspace, name="o", created_by=personas.outsider)
    assert _api(raw_other).post(f"/api/v1/merges/{body['id']}/undo/").status_code == 404
    _ro, raw_ro = api_key_create(workspace=personas.workspace, name="ro", created_by=personas.owner, scope="read")
    read_only = _api(raw_ro).post(
        f"/api/v1/contacts/{ann.uuid}/merge/", {"from": str(bob.uuid)}, content_type="application/json"
    )
    assert read_only.status_code == 403 and Contact.objects.filter(pk=bob.pk).exists()
