"""The accuracy page's backtest jobs: start one (bulk queue), and the progress table it polls while one runs."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from forecasting import accuracy
from forecasting.services import backtest_job_start
from vectoros.http import WorkspaceRequest, workspace_view


@require_POST
@workspace_view(write=True)
def backtest_start(request: WorkspaceRequest) -> HttpResponse:
    try:
        job = backtest_job_start(membership=request.membership, horizon=request.POST.get("horizon", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Backtest queued ({accuracy.HORIZON_LABELS[job.horizon]}); progress below.")
    return redirect("forecasting:history", slug=request.workspace.slug)


@require_GET
@workspace_view()
def backtest_jobs(request: WorkspaceRequest) -> HttpResponse:
    """Polled by the accuracy page while a job is queued or running."""
    jobs = accuracy.backtest_jobs(request.workspace)
    return render(request, "forecasting/history.html#backtest-jobs", {"jobs": jobs})
