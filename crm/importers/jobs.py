"""Imports started from the web: store the upload, run it in the worker, record progress and the report."""

from __future__ import annotations

import shutil
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.utils.text import get_valid_filename
from django_q.tasks import async_task

from crm.importers import run_import
from crm.importers.automap import REQUIRED, auto_mapping, missing_message, missing_required
from crm.importers.reading import CsvSource, FileProblem
from crm.models import ImportJob, ImportStatus
from tenancy.jobs import queue_for
from tenancy.models import Membership, Workspace
from tenancy.scope import Scope

FOLDER_FORMATS = {"maven", "salesforce"}  # a .zip of the folder; HubSpot takes a .zip or one deals CSV
MAX_ZIP_MEMBERS = 200
PROGRESS_EVERY_SECONDS = 0.5
# A large file takes longer than the worker's default task timeout; a redelivered task finds the job
# already claimed and does nothing.
IMPORT_TASK_TIMEOUT = 3 * 3600


class UploadRefused(ValueError):
    """The upload cannot be used; the message says why, for a person."""


def upload_root(workspace: Workspace) -> Path:
    return Path(settings.UPLOADS_DIR) / str(workspace.uuid)


def import_job_create(
    *, workspace: Workspace, actor: Membership | None, upload: UploadedFile, fmt: str, mapping: dict[str, Any]
) -> ImportJob:
    """Save the upload under UPLOADS_DIR/<workspace uuid>/<job uuid>/ (a .zip is unpacked there)."""
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise UploadRefused(f"the file is {upload.size:,} bytes; the limit is {limit:,} bytes")
    name = get_valid_filename(Path(upload.name or "upload").name) or "upload"
    is_zip = name.lower().endswith(".zip")
    if fmt in FOLDER_FORMATS and not is_zip:
        raise UploadRefused(f"the {fmt} format is a folder of CSV files: upload it as one .zip")
    if fmt == "csv" and is_zip:
        raise UploadRefused("the csv format takes one CSV file, not a .zip")
    job = ImportJob(workspace=workspace, created_by=actor, fmt=fmt, mapping=mapping, original_name=name[:255])
    folder = upload_root(workspace) / str(job.uuid)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        saved = folder / name
        size = 0
        with saved.open("wb") as out:
            for chunk in upload.chunks():
                size += len(chunk)
                if size > limit:
                    raise UploadRefused(f"the file is over the limit of {limit:,} bytes")
                out.write(chunk)
        if is_zip:
            target = folder / "files"
            _unzip(saved, target, limit=limit * 5)
            saved.unlink()
            saved = target
            if fmt == "hubspot" and not any("deal" in p.name.lower() for p in target.iterdir()):
                raise UploadRefused("the .zip has no deals export (deals.csv)")
    except UploadRefused:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if fmt == "csv" and not mapping:
        job.mapping = _mapping_by_column_names(saved)
    job.path = str(saved.relative_to(Path(settings.UPLOADS_DIR)))
    job.size_bytes = size
    job.save()
    return job


def _mapping_by_column_names(path: Path) -> dict[str, Any]:
    """The columns recognised by their names; an unreadable header maps nothing yet (the page offers the encoding),
    but amount and stage stay required."""
    try:
        return auto_mapping(CsvSource(path).columns)
    except FileProblem:
        return {"required": list(REQUIRED)}


def _unzip(archive: Path, target: Path, *, limit: int) -> None:
    """Unpack the files of a .zip flat into `target`: no paths from the archive are trusted."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            members = [m for m in members if not _ignored(m.filename)]
            if not members:
                raise UploadRefused("the .zip holds no files")
            if len(members) > MAX_ZIP_MEMBERS:
                raise UploadRefused(f"the .zip holds {len(members)} files; at most {MAX_ZIP_MEMBERS} are accepted")
            if sum(m.file_size for m in members) > limit:
                raise UploadRefused(f"the .zip unpacks to more than {limit:,} bytes")
            target.mkdir()
            seen: set[str] = set()
            for member in members:
                name = get_valid_filename(PurePosixPath(member.filename.replace("\\", "/")).name)
                if not name or name.lower() in seen:
                    raise UploadRefused(f"the .zip holds two files called {name!r}; upload one folder")
                seen.add(name.lower())
                written = 0
                with zf.open(member) as src, (target / name).open("wb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > member.file_size:
                            raise UploadRefused("the .zip is damaged (a file is larger than it says)")
                        out.write(chunk)
    except (zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
        raise UploadRefused(f"not a readable .zip file ({exc})") from None


def _ignored(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return any(p == "__MACOSX" or p.startswith(".") for p in parts)


def import_job_path(job: ImportJob) -> Path:
    return Path(settings.UPLOADS_DIR) / job.path


def import_job_folder(job: ImportJob) -> Path:
    """UPLOADS_DIR/<workspace uuid>/<job uuid>/, where the upload (or the unpacked .zip) lives."""
    return upload_root(job.workspace) / str(job.uuid)


def import_job_set_mapping(*, job: ImportJob, mapping: dict[str, Any]) -> ImportJob:
    job.mapping = mapping
    job.save(update_fields=["mapping"])
    return job


def import_job_start(*, job: ImportJob, skip_invalid: bool) -> bool:
    """Queue the job once (a second click changes nothing); the worker picks it up after commit."""
    if job.fmt == "csv" and (missing := missing_required(job.mapping)):
        raise UploadRefused(missing_message(missing))
    claimed = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.UPLOADED).update(
        status=ImportStatus.QUEUED, skip_invalid=skip_invalid
    )
    if claimed:
        job_id = job.pk
        transaction.on_commit(
            lambda: async_task(
                "crm.tasks_import.import_job_run",
                job_id,
                task_name=f"import-{job_id}",
                timeout=IMPORT_TASK_TIMEOUT,
                cluster=queue_for("crm.tasks_import.import_job_run"),  # the bulk queue
            )
        )
    job.refresh_from_db()
    return bool(claimed)


class _ProgressWriter:
    """Progress updates at most every half second, on their own connection.

    The writing pass runs in one transaction; updates made inside it would stay invisible to the page
    polling the job until the very end, so they go through a second, autocommitting connection.
    """

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.last = 0.0
        self.side: BaseDatabaseWrapper | None = None
        self.written = 0  # rows updated through the side connection (visible to the polling page at once)

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        try:
            if self.side is None:
                self.side = connections.create_connection("default")
            with self.side.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {ImportJob._meta.db_table} SET phase = %s, done = %s, total = %s WHERE id = %s",
                    [phase, done, total, self.job_id],
                )
                self.written += max(cursor.rowcount, 0)
        except DatabaseError:
            pass  # progress is a nicety; the import itself must not fail for it

    def close(self) -> None:
        if self.side is not None:
            self.side.close()


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued job (claimed with a conditional update, so a retried task does not run it twice)."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=timezone.now(), phase="checking"
    )
    if not claimed:
        return None
    job = ImportJob.objects.select_related("workspace", "created_by").get(pk=job_id)
    progress = _ProgressWriter(job_id)
    status = ImportStatus.FAILED
    data: dict[str, Any] = {"errors": [{"row": 0, "column": "", "message": "the import stopped unexpectedly"}]}
    try:
        if job.created_by is None:
            # Who started it decides what it may update (their scope); without them it may update nothing.
            left = "the member who started this import has left the workspace; nothing was written"
            data = {"errors": [{"row": 0, "column": "", "message": left}]}
        else:
            report = run_import(
                workspace=job.workspace,
                fmt=job.fmt,
                path=import_job_path(job),
                mapping=job.mapping,
                skip_invalid=job.skip_invalid,
                actor=job.created_by,
                progress=progress,
                scope=Scope.for_member(job.created_by),
            )
            data = report.as_dict()
            status = ImportStatus.DONE if report.written else ImportStatus.FAILED
    finally:
        # Whatever happened, the page polling this job must stop spinning.
        progress.close()
        ImportJob.objects.filter(pk=job_id).update(status=status, report=data, phase="", finished_at=timezone.now())
        # The report keeps what the page needs; the customer's file is not kept once it has been read.
        shutil.rmtree(import_job_folder(job), ignore_errors=True)
    job.refresh_from_db()
    return job


UPLOAD_NEVER_STARTED_AFTER = timedelta(days=1)
LIVE_UPLOAD_STATUSES = (ImportStatus.UPLOADED, ImportStatus.QUEUED, ImportStatus.RUNNING)
UPLOAD_ABANDONED_REPORT = {
    "errors": [{"row": 0, "column": "", "message": "never started; the uploaded file was removed after a day"}]
}


def import_uploads_prune(*, now: datetime | None = None, older_than: timedelta = UPLOAD_NEVER_STARTED_AFTER) -> int:
    """Remove uploads of imports nobody started within `older_than` (the job stays, marked failed), and folders
    under UPLOADS_DIR that no job points to any more. Returns how many folders were removed."""
    now = now or timezone.now()
    cutoff = now - older_than
    removed = 0
    stale = ImportJob.objects.filter(status=ImportStatus.UPLOADED, created_at__lt=cutoff).select_related("workspace")
    for job in stale:
        # Conditional: a job started in the meantime keeps its file.
        if ImportJob.objects.filter(pk=job.pk, status=ImportStatus.UPLOADED).update(
            status=ImportStatus.FAILED, report=UPLOAD_ABANDONED_REPORT, finished_at=now
        ):
            folder = import_job_folder(job)
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    root = Path(settings.UPLOADS_DIR)
    if root.is_dir():
        live = {
            str(u) for u in ImportJob.objects.filter(status__in=LIVE_UPLOAD_STATUSES).values_list("uuid", flat=True)
        }
        for workspace_dir in root.iterdir():
            for folder in workspace_dir.iterdir() if workspace_dir.is_dir() else []:
                modified = datetime.fromtimestamp(folder.stat().st_mtime, tz=UTC)
                if folder.name in live or modified >= cutoff:
                    continue
                if folder.is_dir():
                    shutil.rmtree(folder, ignore_errors=True)
                else:
                    folder.unlink(missing_ok=True)
                removed += 1
    return removed
