"""Customer data in and out: exported cells a spreadsheet would run are neutralised, a bad import delimiter is a
form error (never a 500), and uploads nobody started are removed after a day."""

from __future__ import annotations

import csv
import io
import os
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from crm.exports import neutralise
from crm.importers.jobs import import_job_folder, import_uploads_prune
from crm.importers.reading import CsvSource, FileProblem
from crm.models import ImportJob, ImportStatus
from crm.services import deal_create
from tests.factories import default_stage

pytestmark = pytest.mark.django_db

ATTACKS = ['＝HYPERLINK("http://evil","x")', " =1+1", "\n=1+1", "\t=1+1", "\u3000=1+1", "＋1+1", "﹦1+1", "@SUM(A1)"]


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path) -> Path:
    settings.UPLOADS_DIR = tmp_path / "uploads"
    return settings.UPLOADS_DIR


@pytest.mark.parametrize("title", ATTACKS)
def test_exported_titles_a_spreadsheet_would_run_start_with_an_apostrophe(personas, title):
    ws = personas.workspace
    deal = deal_create(workspace=ws, actor=personas.owner, title=title, stage=default_stage(ws), amount=Decimal(1))
    response = personas.client_for(personas.owner).get(reverse("crm_data:export_deals", kwargs={"slug": "acme"}))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][1] == "'" + deal.title


@pytest.mark.parametrize("harmless", ["Acme renewal", "A-team deal", "Q3 = good", "", 42, Decimal("-5")])
def test_ordinary_values_are_left_alone(harmless):
    assert neutralise(harmless) == harmless


def test_a_delimiter_of_more_than_one_character_is_refused_by_name(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a;b\n1;2\n")
    with pytest.raises(FileProblem, match="delimiter must be one character"):
        CsvSource(path, delimiter=";;")


def test_a_bad_delimiter_on_the_mapping_form_is_a_form_error_not_a_500(personas):
    client = personas.client_for(personas.owner)
    client.post(
        reverse("crm_data:import", args=["acme"]),
        {"fmt": "csv", "file": SimpleUploadedFile("d.csv", b"Ref;Deal\nR1;Alpha\n")},
    )
    job = ImportJob.objects.get()
    url = reverse("crm_data:import_mapping", args=["acme", job.uuid])
    for bad in ("ab", "\n", '"'):
        response = client.post(url, {"delimiter": bad, "external_id": "Ref", "title": "Deal"})
        assert response.status_code == 400
        assert "Select a valid choice" in response.content.decode()
    job.refresh_from_db()
    assert "delimiter" not in job.mapping


def _upload(personas, name: str) -> ImportJob:
    personas.client_for(personas.owner).post(
        reverse("crm_data:import", args=["acme"]),
        {"fmt": "csv", "file": SimpleUploadedFile(name, b"Ref,Deal\nR1,Alpha\n")},
    )
    return ImportJob.objects.get(original_name=name)


def test_uploads_never_started_are_removed_after_a_day(personas, uploads):
    old, fresh = _upload(personas, "old.csv"), _upload(personas, "fresh.csv")
    ImportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    orphan = uploads / str(personas.workspace.uuid) / "no-such-job"
    orphan.mkdir(parents=True)
    (orphan / "left.csv").write_text("x\n")
    two_days_ago = time.time() - 2 * 86400
    os.utime(orphan, (two_days_ago, two_days_ago))

    out = io.StringIO()
    call_command("prune_uploads", stdout=out)

    assert "2 stale upload(s) removed" in out.getvalue()
    assert not import_job_folder(old).exists() and not orphan.exists()
    assert import_job_folder(fresh).exists()
    old.refresh_from_db()
    assert old.status == ImportStatus.FAILED and "never started" in old.report["errors"][0]["message"]
    assert import_uploads_prune() == 0  # a second run finds nothing
