"""The headline check on real data: Maven CRM as of 2017-03-31, forecasting Q2 2017."""

from __future__ import annotations

from datetime import date

import pytest

from forecasting.services import backtest_run
from tests.factories import WorkspaceFactory

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def test_maven_q2_2017_backtest(db, shared_data):
    from crm.importers import run_import

    workspace = WorkspaceFactory(slug="maven", with_pipeline=False)
    run_import(workspace=workspace, fmt="maven", path=shared_data / "maven-crm-as-of-2017-06-30")
    result = backtest_run(
        workspace=workspace,
        as_of=date(2017, 3, 31),
        period_start=date(2017, 4, 1),
        period_end=date(2017, 6, 30),
    )
    assert result.actual == pytest.approx(3_086_111)
    assert result.in_p10_p90
    assert result.abs_pct_error < result.baselines["weighted_pipeline"]["abs_pct_error"]
    assert result.abs_pct_error < result.baselines["last_period_run_rate"]["abs_pct_error"]
    # Measured 8.7% (P50 $2.82M, P10-P90 $2.19M-$3.85M); the blended forecast: test_forecast_backtest_rolling.
    assert result.abs_pct_error < 10
