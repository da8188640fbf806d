"""Erasure: after `erase_person`, a full pg_dump of the database holds neither the person's email nor their name,
their traces are gone from files too, similar-deal search still works, and the erasure itself is on record."""

from __future__ import annotations

import json
import subprocess
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_q.models import Task

from alerts.models import Channel, Delivery
from audit.models import AuditEvent
from crm.models import Activity, Contact, Deal, ImportJob, ImportStatus
from crm.services import deal_update
from ops.backup import _libpq_env, pg_binary
from scoring.models import ScoringModel
from similarity.models import DealEmbedding
from similarity.selectors import search_deals, similar_deals
from similarity.services import deal_embeddings_refresh
from tenancy.models import PendingJob
from tests.factories import ActivityFactory, CompanyFactory, ContactFactory, DealFactory

EMAIL = "jane.doe@example.com"
NAME = "Jane Doe"


def pg_dump_text() -> str:
    """The whole database as SQL, the way a backup or a stolen dump would show it."""
    db = connection.settings_dict
    result = subprocess.run(  # noqa: S603 (PostgreSQL's own tool)
        [pg_binary("pg_dump"), "--format=plain", "--no-owner"], env=_libpq_env(db), capture_output=True, check=True
    )
    return result.stdout.decode("utf-8", errors="replace").lower()


def _person_everywhere(personas, tmp_path: Path) -> tuple[Deal, Deal, Path, Path]:
    ws = personas.workspace
    company = CompanyFactory(workspace=ws, name="Initech")
    owner = personas.client_for(personas.owner)  # from the web: "Jane Doe saved." waits in the owner's session
    owner.post(
        reverse("crm:contact_create", args=["acme"]),
        {"first_name": "Jane", "last_name": "Doe", "email": EMAIL, "phone": "+1 555 0100", "company": company.uuid},
    )
    jane = Contact.objects.get(email=EMAIL)
    deal = DealFactory(workspace=ws, owner=personas.rep, company=company, title="Initech data platform")
    deal.contacts.add(jane)
    deal_update(
        deal=deal,
        actor=personas.rep,
        changes={"description": f"Met {NAME} at the fair; she wants a data platform. Write to {EMAIL}."},
    )
    other = DealFactory(workspace=ws, owner=personas.rep, title="Globo data warehouse", description="Warehouse rollout")
    call = ActivityFactory(workspace=ws, deal=deal, subject=f"Call with {NAME}", body=f"{EMAIL} asked for pricing")
    call.contacts.add(jane)
    ImportJob.objects.create(
        workspace=ws,
        fmt="csv",
        path="x",
        original_name="contacts.csv",
        status=ImportStatus.DONE,
        report={"errors": [{"row": 3, "column": "email", "message": f"duplicate {EMAIL}"}]},
    )
    upload = ImportJob.objects.create(workspace=ws, fmt="csv", path="y", original_name="leads.csv")
    folder = Path(settings.UPLOADS_DIR) / str(ws.uuid) / str(upload.uuid)
    folder.mkdir(parents=True)
    (folder / "leads.csv").write_text(f"name,email\n{NAME},{EMAIL}\n")
    Delivery.objects.create(
        workspace=ws,
        channel=Channel.EMAIL,
        idempotency_key=f"digest:{uuid.uuid4()}",
        payload={"subject": "Your weekly digest", "text": f"{NAME} ({EMAIL}) went quiet on Initech data platform"},
    )
    Task.objects.create(
        id=uuid.uuid4().hex,
        name="t",
        func="crm.tasks_import.import_job_run",
        args=(1,),
        kwargs={},
        result={"errors": [f"{EMAIL} twice"]},
        started=timezone.now(),
        stopped=timezone.now(),
        success=True,
    )
    artefact = Path(settings.MODELS_DIR) / "erasure-test.json"
    artefact.parent.mkdir(parents=True, exist_ok=True)
    artefact.write_text(json.dumps({"vocabulary": {"categories": {"champion": [NAME, "Someone Else"]}}}))
    ScoringModel.objects.create(workspace=ws, version=1, artifact_path=str(artefact))
    deal_embeddings_refresh(workspace_id=ws.id)
    return deal, other, folder, artefact


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_after_erase_person_a_pg_dump_holds_neither_email_nor_name(personas, tmp_path):
    deal, other, upload_folder, artefact = _person_everywhere(personas, tmp_path)
    hash_before = DealEmbedding.objects.get(deal=deal).text_hash
    before = pg_dump_text()
    assert EMAIL in before and NAME.lower() in before  # the check below can fail
    assert any(NAME in str(s.get_decoded()) for s in Session.objects.all())

    out = StringIO()
    call_command("erase_person", "--workspace", "acme", "--email", EMAIL.upper(), "--json", stdout=out)
    counts = json.loads(out.getvalue())

    after = pg_dump_text()
    assert EMAIL not in after
    assert NAME.lower() not in after
    assert counts["contacts_deleted"] == 1 and counts["deals_reembedded"] >= 1
    assert not Contact.objects.filter(email__iexact=EMAIL).exists()
    assert Activity.objects.get(deal=deal).subject == "Call with [erased]"
    assert "she wants a data platform" in Deal.objects.get(pk=deal.pk).description  # the rest of the text stays
    assert not upload_folder.exists()
    assert not any(NAME in str(s.get_decoded()) for s in Session.objects.all())
    assert NAME not in artefact.read_text() and "Someone Else" in artefact.read_text()

    # Similar-deal search still works, on a re-embedded vector.
    assert DealEmbedding.objects.get(deal=deal).text_hash != hash_before
    assert other.pk in [d.deal_id for d in similar_deals(personas.workspace.id, deal.id)]
    assert search_deals(personas.workspace.id, "data platform")[0].deal_id in {deal.pk, other.pk}

    # The erasure is on record, who and how many, without the data.
    event = AuditEvent.objects.get(action="erasure")
    assert event.actor == "command erase_person" and event.details["contacts_deleted"] == 1
    log = StringIO()
    call_command("audit_log", "--workspace", "acme", "--json", stdout=log)
    assert any(e["action"] == "erasure" and e["actor"] == "command erase_person" for e in json.loads(log.getvalue()))
    assert EMAIL not in log.getvalue().lower() and NAME.lower() not in log.getvalue().lower()


def test_erase_from_the_contact_page_asks_for_confirmation_and_is_for_admins(
    personas, django_capture_on_commit_callbacks
):
    contact = ContactFactory(workspace=personas.workspace, first_name="Lee", last_name="Quartz", email="lee@q.test")
    deal = DealFactory(workspace=personas.workspace, title="Quartz renewal", description="Lee Quartz signs in May")
    url = reverse("audit:erase_contact", args=["acme", contact.uuid])
    owner = personas.client_for(personas.owner)
    page = owner.get(reverse("crm:contact_detail", args=["acme", contact.uuid])).content.decode()
    assert url in page
    assert "lee@q.test" in owner.get(url).content.decode()
    assert owner.post(url, {"confirm": "someone@else.test"}).status_code == 422
    assert Contact.objects.filter(pk=contact.pk).exists()
    assert personas.client_for(personas.rep).post(url, {"confirm": "lee@q.test"}).status_code == 403
    assert personas.client_for(personas.outsider).get(url).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(url, {"confirm": "LEE@q.test"})
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert Deal.objects.get(pk=deal.pk).description == "[erased] signs in May"
    # No model is loaded inside the request: the worker re-embeds the deal.
    job = PendingJob.objects.get(func="similarity.tasks.on_deals_changed")
    assert deal.pk in job.args[-1]
    event = AuditEvent.objects.get(action="erasure")
    assert event.actor == "owner@acme.test" and "lee" not in json.dumps(event.details).lower()


def test_bad_input_is_a_clear_error(personas):
    with pytest.raises(CommandError, match="No workspace"):
        call_command("erase_person", "--workspace", "nope", "--email", EMAIL)
    with pytest.raises(CommandError, match="valid email"):
        call_command("erase_person", "--workspace", "acme", "--email", "not-an-email")


def test_erasure_stays_inside_the_workspace(personas):
    mine = ContactFactory(workspace=personas.workspace, first_name="Jane", last_name="Doe", email=EMAIL)
    theirs = ContactFactory(workspace=personas.other_workspace, first_name="Jane", last_name="Doe", email=EMAIL)
    their_deal = DealFactory(workspace=personas.other_workspace, description=f"Call {NAME} next week")
    call_command("erase_person", "--workspace", "acme", "--email", EMAIL, stdout=StringIO())
    assert not Contact.objects.filter(pk=mine.pk).exists()
    assert Contact.objects.get(pk=theirs.pk).email == EMAIL
    assert Deal.objects.get(pk=their_deal.pk).description == f"Call {NAME} next week"
