"""The audit log page and the erasure of a contact, for owners and admins (`/w/<slug>/settings/audit/`)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods

from audit.context import user_actor
from audit.erasure import person_erase
from audit.forms import AuditFilterForm, EraseConfirmForm
from audit.selectors import AuditEntry, AuditLog
from crm.models import Contact
from tenancy.access import require_admin
from vectoros.http import WorkspaceRequest, render_screen, workspace_view

PAGE_SIZE = 50


@require_GET
@workspace_view()
def audit_log(request: WorkspaceRequest) -> HttpResponse:
    require_admin(request.membership)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        invalid: dict[str, object] = {"form": form, "page": None, "tab": "audit", "can_administer": True}
        return render_screen(request, "audit/log.html", invalid, status=400)
    log = AuditLog(request.workspace, form.filters())
    paginator: Paginator[AuditEntry] = Paginator(log, PAGE_SIZE)  # type: ignore[arg-type]  # counted and sliced like a queryset
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context: dict[str, object] = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "tab": "audit",
        "can_administer": True,
    }
    return render_screen(request, "audit/log.html", context, partial="results")


@require_http_methods(["GET", "POST"])
@workspace_view()
def erase_contact(request: WorkspaceRequest, contact_uuid: str) -> HttpResponse:
    require_admin(request.membership)
    contact = request.scope.get(Contact, contact_uuid)
    expected = contact.email or contact.full_name
    form = EraseConfirmForm(request.POST or None, expected=expected)
    if request.method == "POST" and form.is_valid():
        try:
            report = person_erase(
                workspace=request.workspace,
                email=contact.email,
                contact=contact,
                actor=user_actor(request.user),
                reembed_now=False,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # No name in the message: messages are kept in the session table.
            rows = sum(report.rows.values())
            messages.success(request, f"Erased: {report.contacts} contact(s) deleted, {rows} row(s) redacted.")
            return redirect("audit:log", request.workspace.slug)
    status = 422 if form.errors else 200
    return render_screen(request, "audit/erase_confirm.html", {"contact": contact, "form": form}, status=status)
