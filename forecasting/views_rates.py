"""The currency rates table: what one unit of another currency is worth in the workspace's (admins keep it)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from forecasting.forms import CurrencyRateForm
from forecasting.models import CurrencyRate
from forecasting.services import currency_rate_delete, currency_rate_set
from tenancy.access import require_admin
from vectoros.forms import apply_service_errors
from vectoros.http import WorkspaceRequest, workspace_view


@require_http_methods(["GET", "POST"])
@workspace_view()
def rates(request: WorkspaceRequest) -> HttpResponse:
    form = CurrencyRateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        require_admin(request.membership)
        if form.is_valid():
            try:
                rate = currency_rate_set(membership=request.membership, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Saved: {rate}.")
                return redirect("forecasting:rates", slug=request.workspace.slug)
        status = 422
    context = {"form": form, "rates": CurrencyRate.objects.for_workspace(request.workspace)}
    return render(request, "forecasting/rates.html", context, status=status)


@require_POST
@workspace_view(write=True)
def rate_delete(request: WorkspaceRequest) -> HttpResponse:
    currency_rate_delete(membership=request.membership, currency=request.POST.get("currency", ""))
    messages.success(request, "Rate removed.")
    return redirect("forecasting:rates", slug=request.workspace.slug)
