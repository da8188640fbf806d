"""Accuracy in the app: a backtest started from the page runs as a bulk job with progress, and every run is listed."""

from __future__ import annotations

import time_machine
from django.urls import reverse

from forecasting.models import BacktestJob, RollingBacktest
from forecasting.tasks import backtest_jobs_run
from tenancy.models import PendingJob
from tests.test_forecast_views import NOW, few_sims, history  # fixtures

_ = (few_sims, history)


def test_owner_starts_a_backtest_and_sees_its_scores(
    personas, history, django_capture_on_commit_callbacks, settings, monkeypatch
):
    # The fixture's history is short: a few closes are enough for a month-end to count as an origin here.
    monkeypatch.setattr("forecasting.backtest.MIN_CLOSED_AT_ORIGIN", 5)
    owner = personas.client_for(personas.owner)
    start = reverse("forecasting:backtest_start", args=["acme"])
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(start, {"horizon": "this"})
    assert response.status_code == 302
    job = BacktestJob.objects.get()
    assert job.status == "queued" and job.requested_by == personas.owner
    pending = PendingJob.objects.get()
    assert pending.func == "forecasting.tasks.backtest_jobs_run"
    assert "forecasting.tasks.backtest_jobs_run" in settings.BULK_TASKS
    # A second start of the same horizon while one waits is refused with a message.
    again = owner.post(start, {"horizon": "this"}, follow=True).content.decode()
    assert "already queued or running" in again and BacktestJob.objects.count() == 1
    # While it waits, the page polls the progress table.
    page = owner.get(reverse("forecasting:history", args=["acme"])).content.decode()
    assert 'hx-trigger="every 2s"' in page and "Queued" in page

    with time_machine.travel(NOW, tick=False):
        backtest_jobs_run([job.id])
    job.refresh_from_db()
    assert job.status == "done", job.error
    assert job.total > 0 and job.done == job.total
    assert "coverage_p10_p90" in job.summary and "baselines" in job.summary
    assert RollingBacktest.objects.filter(workspace=personas.workspace, horizon="this").exists()
    page = owner.get(reverse("forecasting:history", args=["acme"])).content.decode()
    table = page.split('aria-label="Backtest runs"')[1].split("</table>")[0]
    assert "Rest of this quarter" in table and "Done" in table
    assert 'hx-trigger="every 2s"' not in page  # nothing left to poll
    # A re-sent task finds the job already run and changes nothing.
    backtest_jobs_run([job.id])
    assert BacktestJob.objects.get().finished_at == job.finished_at


def test_only_admins_start_backtests_and_bad_horizons_are_refused(personas, history):
    start = reverse("forecasting:backtest_start", args=["acme"])
    assert personas.client_for(personas.rep).post(start, {"horizon": "this"}).status_code == 403
    assert personas.client_for(personas.viewer).post(start, {"horizon": "this"}).status_code == 403
    assert personas.client_for(personas.outsider).post(start, {"horizon": "this"}).status_code == 404
    owner = personas.client_for(personas.owner)
    page = owner.post(start, {"horizon": "forever"}, follow=True).content.decode()
    assert "The horizon must be one of" in page
    assert not BacktestJob.objects.exists()
    assert owner.get(start).status_code == 405


def test_deal_page_shows_when_an_open_deal_may_close(personas, history):
    import re

    open_deal, closed_deal = history[-1], history[0]
    assert open_deal.owner == personas.rep and closed_deal.owner == personas.other_rep
    rep = personas.client_for(personas.rep)
    with time_machine.travel(NOW, tick=False):
        page = rep.get(reverse("crm:deal_detail", args=["acme", open_deal.uuid])).content.decode()
        url = reverse("forecasting:deal_timing", args=["acme", open_deal.uuid])
        assert f'hx-get="{url}"' in page
        panel = rep.get(url, headers={"HX-Request": "true"}).content.decode()
    rows = re.findall(r"<tr><td>([^<]+)</td><td>.*?(\d+)%</td></tr>", panel)
    labels = [label for label, _ in rows]
    # May 15, 2026: this quarter is Q2 FY2026, the next Q3 FY2026.
    assert labels == ["Q2 FY2026", "Q3 FY2026", "Later", "Not won"], panel
    assert 98 <= sum(int(p) for _, p in rows) <= 102  # shares of one certainty (rounded)
    owner = personas.client_for(personas.owner)
    closed = owner.get(reverse("forecasting:deal_timing", args=["acme", closed_deal.uuid])).content.decode()
    assert "Only open deals have a timing" in closed
    # Another team's deal is a 404 for the rep, as on the deal page itself (a fresh session: the one above was
    # saved in May under time travel and has expired by now).
    rep = personas.client_for(personas.rep)
    assert rep.get(reverse("forecasting:deal_timing", args=["acme", closed_deal.uuid])).status_code == 404
    outsider = personas.client_for(personas.outsider)
    assert outsider.get(url).status_code == 404


def test_the_accuracy_page_says_what_the_forecast_learnt_from_the_history(personas, history):
    from forecasting.models import ForecastRun
    from forecasting.services import forecast_run

    owner = personas.client_for(personas.owner)
    url = reverse("forecasting:history", args=["acme"])
    assert "What the forecast learnt" not in owner.get(url).content.decode()  # no run yet
    with time_machine.travel(NOW, tick=False):
        run = forecast_run(workspace=personas.workspace)
    # 13 wins over a few months: nothing to tell a quarter-end rush from chance.
    assert all(abs(v - 1) < 0.05 for v in run.inputs["month_pace"])
    page = owner.get(url).content.decode()
    assert "What the forecast learnt" in page and "No\nquarter-end rush is learnt yet" in page
    assert f"won {round(run.inputs['recent_win_rate_level'] * 100)}% as" in page
    # A run that learnt one shows it, month by month.
    ForecastRun.objects.filter(id=run.id).update(inputs={**run.inputs, "month_pace": [0.73, 1.03, 1.23]})
    page = owner.get(url).content.decode()
    assert "First month ×0.73, Second month ×1.03, Third month ×1.23" in page
    assert "a whole quarter is unchanged" in page
