"""The import page: upload, preview with per-cell problems, mapping, background job, report, error CSV."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.models import Deal, ImportJob, ImportStatus
from tests.test_import_salesforce import ACCOUNT, HISTORY, OPPORTUNITY

CSV = (
    "Ref,Deal,Value,Opened,Result\n"
    "R1,Alpha,1000,2024-01-05,Won\n"
    "R2,Beta,2000,not a date,Lost\n"
    "R3,=cmd(),3000,2024-02-01,Open\n"
    "R4,Delta,4000,2024-02-03,Open\n"
)


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path) -> Path:
    settings.UPLOADS_DIR = tmp_path / "uploads"
    return settings.UPLOADS_DIR


@pytest.fixture
def queued(monkeypatch) -> list[tuple]:
    """Tasks handed to the worker, run on demand by `_work`."""
    calls: list[tuple] = []
    monkeypatch.setattr("crm.importers.jobs.async_task", lambda func, *args, **kw: calls.append((func, args)))
    return calls


def _work(queued: list[tuple]) -> None:
    from django.utils.module_loading import import_string

    while queued:
        func, args = queued.pop(0)
        import_string(func)(*args)


def _url(name: str, *args) -> str:
    return reverse(f"crm_data:{name}", args=["acme", *args])


def test_csv_upload_map_preview_run_and_report(personas, uploads, queued, django_capture_on_commit_callbacks):
    client = personas.client_for(personas.manager)
    page = client.get(_url("import"))
    assert page.status_code == 200 and b"Upload and preview" in page.content
    response = client.post(_url("import"), {"fmt": "csv", "file": SimpleUploadedFile("deals.csv", CSV.encode())})
    job = ImportJob.objects.get(workspace=personas.workspace)
    assert response.status_code == 302 and response.url == _url("import_job", job.uuid)
    assert job.status == ImportStatus.UPLOADED and (uploads / str(personas.workspace.uuid)).is_dir()

    page = client.get(_url("import_job", job.uuid)).content.decode()
    assert "Apply mapping" in page and '<option value="Opened">Opened</option>' in page

    mapping = {"external_id": "Ref", "title": "Deal", "amount": "Value", "created": "Opened",
               "outcome_column": "Result", "won": "Won", "lost": "Lost"}  # fmt: skip
    preview = client.post(_url("import_mapping", job.uuid), mapping, HTTP_HX_REQUEST="true").content.decode()
    assert "2 problems in the first rows" in preview
    assert "“not a date” is not a date" in preview and "looks like a spreadsheet formula" in preview
    assert preview.count('class="cell-problem"') == 2  # the two bad cells are marked where they are
    job.refresh_from_db()
    assert job.mapping["outcome"] == {"column": "Result", "won": ["Won"], "lost": ["Lost"]}
    assert not Deal.objects.for_workspace(personas.workspace).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("import_start", job.uuid), {"skip_invalid": "on"})
    assert response.status_code == 302 and len(queued) == 1
    progress = client.get(_url("import_progress", job.uuid)).content.decode()
    assert 'hx-trigger="every 1s"' in progress and "Waiting for the worker" in progress
    _work(queued)

    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.report["created"]["deals"] == 2 and job.report["skipped"] == 2
    assert set(Deal.objects.for_workspace(personas.workspace).values_list("external_id", flat=True)) == {"R1", "R4"}
    done = client.get(_url("import_progress", job.uuid)).content.decode()
    assert "hx-trigger" not in done and "Imported" in done and "Download the row errors" in done
    errors = client.get(_url("import_errors", job.uuid))
    body = b"".join(errors.streaming_content).decode("utf-8-sig")
    assert errors["Content-Type"].startswith("text/csv")
    lines = body.splitlines()
    assert lines[0] == "file,row,column,message" and len(lines) == 3
    assert lines[1].startswith("deals.csv,3,Opened,") and lines[2].startswith("deals.csv,4,Deal,")
    # A second click on start queues nothing more.
    client.post(_url("import_start", job.uuid), {})
    assert queued == []


def test_without_skip_a_bad_row_refuses_everything(personas, queued, django_capture_on_commit_callbacks):
    client = personas.client_for(personas.owner)
    client.post(_url("import"), {"fmt": "csv", "file": SimpleUploadedFile("d.csv", CSV.encode())})
    job = ImportJob.objects.get()
    mapping = {"external_id": "Ref", "created": "Opened", "title": "Deal", "amount": "Value"}
    mapping["outcome_column"] = "Result"  # amount and stage (or an outcome) are required on the page
    client.post(_url("import_mapping", job.uuid), mapping)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url("import_start", job.uuid), {})
    _work(queued)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and job.report["error_count"] == 2
    assert not Deal.objects.for_workspace(personas.workspace).exists()
    assert "Refused: nothing was written" in client.get(_url("import_job", job.uuid)).content.decode()


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buffer.getvalue()


def test_salesforce_zip_imports_in_the_worker(personas, uploads, queued, django_capture_on_commit_callbacks):
    client = personas.client_for(personas.owner)
    files = {"export/Opportunity.csv": OPPORTUNITY, "export/OpportunityHistory.csv": HISTORY}
    files |= {"export/Account.csv": ACCOUNT, "__MACOSX/._Account.csv": "junk", "../../evil.csv": "x"}
    archive = _zip(files)
    client.post(_url("import"), {"fmt": "salesforce", "file": SimpleUploadedFile("sf.zip", archive)})
    job = ImportJob.objects.get()
    folder = uploads / job.path
    # Paths in the archive are not trusted: files land flat in the job's folder, "../" and Mac junk are dropped.
    assert sorted(p.name for p in folder.iterdir()) == ["Account.csv", "Opportunity.csv", "OpportunityHistory.csv"]
    assert not (uploads.parent / "evil.csv").exists()
    page = client.get(_url("import_job", job.uuid)).content.decode()
    assert "Preview of Opportunity.csv" in page and "No problems in the first 4 rows" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url("import_start", job.uuid), {})
    _work(queued)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.report["deals_by_outcome"] == {"won": 1, "lost": 1, "open": 1}
    assert not folder.exists()  # the upload is deleted once read; the report stays


def test_folder_formats_need_a_zip(personas, uploads):
    client = personas.client_for(personas.owner)
    response = client.post(_url("import"), {"fmt": "maven", "file": SimpleUploadedFile("p.csv", b"a,b\n1,2\n")})
    assert response.status_code == 400 and "upload it as one .zip" in response.content.decode()
    broken = client.post(_url("import"), {"fmt": "salesforce", "file": SimpleUploadedFile("x.zip", b"not a zip")})
    assert "not a readable .zip" in broken.content.decode()
    assert not ImportJob.objects.exists() and not any(uploads.rglob("*.*"))


@pytest.mark.parametrize("size", [200_000, 10_000])  # refused by Content-Length, and while streaming
def test_uploads_over_the_limit_are_refused_unread(personas, settings, uploads, size):
    settings.IMPORT_MAX_UPLOAD_BYTES = 2048
    client = personas.client_for(personas.owner)
    big = SimpleUploadedFile("big.csv", b"Ref,Deal\n" + b"R,x\n" * (size // 4))
    response = client.post(_url("import"), {"fmt": "csv", "file": big})
    assert response.status_code == 413 and "larger than the limit of 2.0\xa0KB" in response.content.decode()
    assert not ImportJob.objects.exists() and not any(uploads.rglob("*.*"))


def test_import_pages_permissions(personas):
    job = ImportJob.objects.create(workspace=personas.workspace, fmt="csv", path="x/y.csv", original_name="y.csv")
    theirs = ImportJob.objects.create(workspace=personas.other_workspace, fmt="csv", path="a.csv", original_name="a")
    for member in (personas.viewer, personas.rep):
        client = personas.client_for(member)
        assert client.get(_url("import")).status_code == 403
        assert client.get(_url("import_job", job.uuid)).status_code == 403
        assert client.post(_url("import_start", job.uuid)).status_code == 403
    outsider = personas.client_for(personas.outsider)
    assert outsider.get(_url("import")).status_code == 404
    assert outsider.get(_url("import_errors", job.uuid)).status_code == 404
    owner = personas.client_for(personas.owner)
    assert owner.get(_url("import_job", theirs.uuid)).status_code == 404
    assert owner.get(_url("import_errors", theirs.uuid)).status_code == 404
    assert owner.delete(_url("import")).status_code == 405
    assert owner.get(_url("import_start", job.uuid)).status_code == 405
    nav = owner.get(reverse("crm:board", args=["acme"])).content.decode()
    assert f'href="{_url("import")}"' in nav


@pytest.mark.slow
def test_progress_is_visible_to_the_polling_page_while_the_import_writes(personas, transactional_db, monkeypatch):
    """The writing pass is one transaction; progress must still reach other connections as it happens."""
    from django.db import connections

    from crm.importers import jobs

    monkeypatch.setattr(jobs, "PROGRESS_EVERY_SECONDS", 0)
    monkeypatch.setattr("crm.importers.BATCH", 2)
    rows = "".join(f"R{i},Deal {i},{i}00,2024-01-0{1 + i % 9}\n" for i in range(10))
    folder = Path(jobs.upload_root(personas.workspace))
    folder.mkdir(parents=True)
    (folder / "d.csv").write_text("Ref,Deal,Value,Opened\n" + rows, encoding="utf-8")
    job = ImportJob.objects.create(
        workspace=personas.workspace, fmt="csv", path=str(folder.relative_to(jobs.settings.UPLOADS_DIR) / "d.csv"),
        original_name="d.csv", status=ImportStatus.QUEUED, created_by=personas.owner,
        mapping={"external_id": "Ref", "title": "Deal", "amount": "Value", "created": "Opened"},
    )  # fmt: skip
    seen: list[tuple[str, int]] = []
    reader = connections.create_connection("default")
    original = jobs._ProgressWriter.__call__

    def watched(self, phase: str, done: int, total: int) -> None:
        original(self, phase, done, total)
        with reader.cursor() as cursor:  # another connection: what the polling page would read
            cursor.execute("SELECT phase, done FROM crm_importjob WHERE id = %s", [job.id])
            seen.append(cursor.fetchone())

    monkeypatch.setattr(jobs._ProgressWriter, "__call__", watched)
    try:
        jobs.import_job_run(job_id=job.id)
    finally:
        reader.close()
    assert ("writing", 4) in seen and ("writing", 10) in seen
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.phase == "" and job.report["created"]["deals"] == 10
    # Run again (a retried task): the claim fails and nothing is imported twice.
    assert jobs.import_job_run(job_id=job.id) is None
    assert Deal.objects.for_workspace(personas.workspace).count() == 10


def test_latin1_upload_is_fixed_by_choosing_the_encoding(personas):
    client = personas.client_for(personas.owner)
    data = "Ref;Deal;Amount;Stage;Opened\nL1;Café crème;1200;Proposal;2024-03-01\n".encode("cp1252")
    client.post(_url("import"), {"fmt": "csv", "file": SimpleUploadedFile("fr.csv", data)})
    job = ImportJob.objects.get()
    page = client.get(_url("import_job", job.uuid)).content.decode()
    assert "not UTF-8 at byte" in page and "Latin-1" in page and 'name="encoding"' in page
    mapping = {"encoding": "cp1252", "delimiter": ";", "external_id": "Ref", "title": "Deal", "created": "Opened"}
    mapping |= {"amount": "Amount", "stage": "Stage"}
    preview = client.post(_url("import_mapping", job.uuid), mapping, HTTP_HX_REQUEST="true").content.decode()
    assert "No problems in the first 1 rows" in preview and "Café crème" in preview
    job.refresh_from_db()
    assert job.mapping["encoding"] == "cp1252" and job.mapping["delimiter"] == ";"


def test_title_template_is_checked_and_internal_presets_are_not_offered(personas):
    client = personas.client_for(personas.owner)
    assert "salvirt" not in client.get(_url("import")).content.decode()  # an internal preset (import_crm only)
    data = b"Product;Client;Status;Amount\nP1;Acme;Won;100\n"
    client.post(_url("import"), {"fmt": "csv", "preset": "salvirt-b2b", "file": SimpleUploadedFile("s.csv", data)})
    job = ImportJob.objects.get()
    assert "title" not in job.mapping  # the preset was not applied: columns are recognised by name
    bad = client.post(_url("import_mapping", job.uuid), {"delimiter": ";", "title_template": "{Product} {Nope}"})
    assert bad.status_code == 400 and "No such column: Nope." in bad.content.decode()
    client.post(_url("import_mapping", job.uuid), {"delimiter": ";", "title_template": "{Product} for {Client}"})
    job.refresh_from_db()
    assert job.mapping == {"delimiter": ";", "title": "{Product} for {Client}", "required": ["amount", "stage"]}
    page = client.get(_url("import_job", job.uuid)).content.decode()
    assert 'value="{Product} for {Client}"' in page and "no amount column" in page


def test_upload_still_needs_the_csrf_token(personas):
    """The upload view is csrf_exempt only to install its size limit first; the check then runs."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.owner.user)
    upload = {"fmt": "csv", "file": SimpleUploadedFile("d.csv", CSV.encode())}
    assert client.post(_url("import"), upload).status_code == 403
    client.get(_url("import"))  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    upload["file"].seek(0)
    assert client.post(_url("import"), {**upload, "csrfmiddlewaretoken": token}).status_code == 302
    assert ImportJob.objects.count() == 1


def test_a_job_whose_worker_died_stops_polling(personas):
    import datetime as dt

    import time_machine

    start = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)
    job = ImportJob.objects.create(
        workspace=personas.workspace, fmt="csv", path="x/d.csv", original_name="d.csv",
        status=ImportStatus.RUNNING, started_at=start, phase="writing", done=10, total=100,
    )  # fmt: skip
    client = personas.client_for(personas.owner)
    with time_machine.travel(start + dt.timedelta(minutes=5), tick=False):
        running = client.get(_url("import_progress", job.uuid)).content.decode()
    assert 'hx-trigger="every 1s"' in running and 'value="10"' in running
    with time_machine.travel(start + dt.timedelta(hours=5), tick=False):
        stalled = client.get(_url("import_progress", job.uuid)).content.decode()
    assert "hx-trigger" not in stalled and "Stopped" in stalled and "nothing was written" in stalled
