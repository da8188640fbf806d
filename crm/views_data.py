"""Data pages of a workspace: CSV exports, the import page with its background job, API keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import exports
from crm.forms import DealFilterForm
from crm.importers.automap import missing_required
from crm.importers.forms import DELIMITERS, ENCODINGS, MappingForm, StartForm, UploadForm
from crm.importers.jobs import (
    UploadRefused,
    import_job_create,
    import_job_path,
    import_job_set_mapping,
    import_job_start,
)
from crm.importers.preview import preview_import
from crm.importers.reading import CsvSource, FileProblem
from crm.models import Company, Contact, ImportJob, ImportStatus
from crm.selectors import activities_visible_to, deals_filtered
from tenancy.access import parse_uuid
from tenancy.forms import ApiKeyForm
from tenancy.models import ApiKey, Role
from tenancy.services import api_key_create, api_key_revoke
from vectoros import ratelimit
from vectoros.forms import apply_service_errors
from vectoros.http import WorkspaceRequest, render_screen, workspace_view


def _stream(name: str, header: list[str], rows) -> StreamingHttpResponse:
    response = StreamingHttpResponse(exports.csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _count_export(request: WorkspaceRequest) -> None:
    """Each export reads every row in the member's sight: a few dozen an hour per member, then 429."""
    ratelimit.enforce(request, "export", f"member:{request.membership.id}", what="CSV exports")


@require_GET
@workspace_view()
def export_deals(request: WorkspaceRequest) -> StreamingHttpResponse | HttpResponseBadRequest:
    _count_export(request)
    form = DealFilterForm(request.GET, scope=request.scope)
    if not form.is_valid():
        return HttpResponseBadRequest("Invalid filter: " + "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items()))
    deals = deals_filtered(request.scope, form.filters())
    return _stream(f"{request.workspace.slug}-deals", exports.DEAL_HEADER, exports.deal_rows(deals))


@require_GET
@workspace_view()
def export_companies(request: WorkspaceRequest) -> StreamingHttpResponse:
    _count_export(request)
    companies = Company.objects.for_workspace(request.workspace)
    return _stream(f"{request.workspace.slug}-companies", exports.COMPANY_HEADER, exports.company_rows(companies))


@require_GET
@workspace_view()
def export_contacts(request: WorkspaceRequest) -> StreamingHttpResponse:
    _count_export(request)
    contacts = Contact.objects.for_workspace(request.workspace)
    return _stream(f"{request.workspace.slug}-contacts", exports.CONTACT_HEADER, exports.contact_rows(contacts))


@require_GET
@workspace_view()
def export_activities(request: WorkspaceRequest) -> StreamingHttpResponse:
    _count_export(request)
    activities = activities_visible_to(request.scope)
    return _stream(f"{request.workspace.slug}-activities", exports.ACTIVITY_HEADER, exports.activity_rows(activities))


# ---- Import page (owners, admins and managers) ----------------------------------------------------

IMPORT_ROLES = {Role.OWNER, Role.ADMIN, Role.MANAGER}


def _require_importer(request: WorkspaceRequest) -> None:
    if request.membership.role not in IMPORT_ROLES:
        raise PermissionDenied("Only owners, admins and managers can import data.")


def _jobs(request: WorkspaceRequest) -> QuerySet[ImportJob]:
    """Import jobs this member may open: their own; owners and admins see everyone's."""
    jobs = ImportJob.objects.for_workspace(request.workspace)
    return jobs if request.membership.can_administer else jobs.filter(created_by=request.membership)


def _job_for(request: WorkspaceRequest, job_uuid: object) -> ImportJob:
    return get_object_or_404(_jobs(request), uuid=parse_uuid(job_uuid))


class _LimitedUpload(FileUploadHandler):
    """Stops reading an uploaded file as soon as it passes the limit (Content-Length can be absent or lie)."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit, self.received = limit, 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            if self.request is not None:
                # A flag for the import view on the request of this upload (HttpRequest declares no such field).
                self.request.import_upload_too_large = True  # type: ignore[attr-defined]
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _too_large(request: WorkspaceRequest) -> HttpResponse:
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    refused = f"The upload is larger than the limit of {filesizeformat(limit)}; nothing was read."
    context = {"form": UploadForm(), "jobs": _recent_jobs(request), "limit": limit, "refused": refused}
    return render(request, "crm/data/import.html", context, status=413)


def _recent_jobs(request: WorkspaceRequest) -> list[ImportJob]:
    return list(_jobs(request).select_related("created_by")[:10])


@csrf_exempt  # checked below, once the upload handlers are in place (Django's documented pattern)
@require_http_methods(["GET", "POST"])
@workspace_view(write=True)
def import_page(request: WorkspaceRequest) -> HttpResponse:
    _require_importer(request)
    if request.method == "POST":
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit + 64 * 1024:  # the multipart envelope adds a little to the file itself
            return _too_large(request)
        request.upload_handlers.insert(0, _LimitedUpload(request, limit))
    return _import_upload(request)


@csrf_protect
def _import_upload(request: WorkspaceRequest) -> HttpResponse:
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    form = UploadForm(request.POST or None, request.FILES or None)
    if getattr(request, "import_upload_too_large", False):
        return _too_large(request)
    if request.method == "POST" and form.is_valid():
        try:
            job = import_job_create(
                workspace=request.workspace,
                actor=request.membership,
                upload=form.cleaned_data["file"],
                fmt=form.cleaned_data["fmt"],
                mapping={},
            )
        except UploadRefused as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("crm_data:import_job", request.workspace.slug, job.uuid)
    status = 400 if form.is_bound else 200
    context = {"form": form, "jobs": _recent_jobs(request), "limit": limit}
    return render(request, "crm/data/import.html", context, status=status)


def _job_context(request: WorkspaceRequest, job: ImportJob, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"job": job, "start_form": StartForm(), **extra}
    if job.status == ImportStatus.UPLOADED:
        path = import_job_path(job)
        context["preview"] = preview_import(workspace=request.workspace, fmt=job.fmt, path=path, mapping=job.mapping)
        context["can_start"] = not (job.fmt == "csv" and missing_required(job.mapping))
        if job.fmt == "csv" and "mapping_form" not in extra:
            # Even with an unreadable header the form is shown: its encoding and delimiter can fix that.
            columns = context["preview"].columns or _header(path, job.mapping)
            context["mapping_form"] = MappingForm(columns=columns, mapping=job.mapping)
    return context


def _header(path: Any, mapping: dict[str, Any]) -> list[str]:
    try:
        return CsvSource(path, delimiter=mapping.get("delimiter"), encoding=mapping.get("encoding", "utf-8")).columns
    except FileProblem:
        return []


@require_GET
@workspace_view(write=True)
def import_job(request: WorkspaceRequest, job_uuid: str) -> HttpResponse:
    _require_importer(request)
    job = _job_for(request, job_uuid)
    return render_screen(request, "crm/data/import_job.html", _job_context(request, job), partial="progress")


@require_POST
@workspace_view(write=True)
def import_mapping(request: WorkspaceRequest, job_uuid: str) -> HttpResponse:
    _require_importer(request)
    job = _job_for(request, job_uuid)
    if job.fmt != "csv" or job.status != ImportStatus.UPLOADED:
        return HttpResponseBadRequest("Only a CSV import that has not started takes a mapping.")
    # The header is read the way the form asks (encoding, delimiter), so changing those offers the right columns.
    reading = {"encoding": request.POST.get("encoding") or "utf-8", "delimiter": request.POST.get("delimiter") or None}
    if reading["encoding"] not in {code for code, _label in ENCODINGS}:
        reading["encoding"] = "utf-8"
    if reading["delimiter"] not in {code for code, _label in DELIMITERS}:
        reading["delimiter"] = None  # read the header by sniffing; the form then names the bad choice
    form = MappingForm(request.POST, columns=_header(import_job_path(job), reading), mapping=job.mapping)
    if not form.is_valid():
        context = _job_context(request, job, mapping_form=form)
        return render_screen(request, "crm/data/import_job.html", context, partial="preview", status=400)
    import_job_set_mapping(job=job, mapping=form.mapping())
    if request.htmx:
        return render_screen(request, "crm/data/import_job.html", _job_context(request, job), partial="preview")
    return redirect("crm_data:import_job", request.workspace.slug, job.uuid)


@require_POST
@workspace_view(write=True)
def import_run(request: WorkspaceRequest, job_uuid: str) -> HttpResponse:
    _require_importer(request)
    job = _job_for(request, job_uuid)
    form = StartForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Invalid form.")
    try:
        import_job_start(job=job, skip_invalid=form.cleaned_data["skip_invalid"])
    except UploadRefused as exc:
        messages.error(request, f"Not started: {exc}")
    return redirect("crm_data:import_job", request.workspace.slug, job.uuid)


@require_GET
@workspace_view(write=True)
def import_progress(request: WorkspaceRequest, job_uuid: str) -> HttpResponse:
    _require_importer(request)
    job = _job_for(request, job_uuid)
    return render(request, "crm/data/import_job.html#progress", {"job": job})


@require_GET
@workspace_view(write=True)
def import_errors(request: WorkspaceRequest, job_uuid: str) -> StreamingHttpResponse:
    _require_importer(request)
    job = _job_for(request, job_uuid)
    errors = (job.report or {}).get("errors", [])
    rows = ([e.get("file", ""), e.get("row", ""), e.get("column", ""), e.get("message", "")] for e in errors)
    return _stream(f"import-{job.uuid}-errors", ["file", "row", "column", "message"], rows)


# ---- API keys (each member their own; owners and admins every key of the workspace) ---------------------


def _keys_for(request: WorkspaceRequest) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.filter(workspace=request.workspace).select_related("created_by")
    return keys if request.membership.can_administer else keys.filter(created_by=request.membership)


@require_http_methods(["GET", "POST"])
@workspace_view()
def api_keys(request: WorkspaceRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None, membership=request.membership)
    raw_key = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            days = form.cleaned_data["expires_in_days"]
            try:
                _key, raw_key = api_key_create(
                    workspace=request.workspace,
                    name=form.cleaned_data["name"],
                    created_by=request.membership,
                    scope=form.cleaned_data["scope"],
                    expires_at=timezone.now() + timedelta(days=days) if days else None,
                    workspace_wide=form.cleaned_data.get("workspace_wide", False),
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                form = ApiKeyForm(membership=request.membership)
        if form.errors:
            status = 400
    context = {
        "form": form,
        "keys": _keys_for(request),
        "raw_key": raw_key,
        "tab": "api_keys",
        "can_administer": request.membership.can_administer,
    }
    return render(request, "crm/data/api_keys.html", context, status=status)


@require_POST
@workspace_view()
def api_key_revoke_view(request: WorkspaceRequest, key_uuid: str) -> HttpResponse:
    key = get_object_or_404(_keys_for(request), uuid=parse_uuid(key_uuid))
    api_key_revoke(key=key)
    messages.success(request, f"Key “{key.name}” revoked: it no longer opens the API.")
    return redirect("crm_data:api_keys", request.workspace.slug)
