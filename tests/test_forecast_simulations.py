"""A run keeps its simulations: the stored win matrix is the one that made the totals, and only recent runs keep it."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.engine import NewBusiness, OpenDeals, simulate
from forecasting.models import ForecastRun, RunSimulation
from forecasting.rates import BetaRates, GammaRate
from forecasting.services import SIMULATIONS_KEPT, forecast_run
from forecasting.simulations import StoredSimulation, pack, unpack
from tests.factories import make_deal


def _deals(n: int = 300, seed: int = 4) -> tuple[OpenDeals, BetaRates]:
    rng = np.random.default_rng(seed)
    deals = OpenDeals(
        amount=rng.integers(1, 100, n) * 1000.0,
        segment=rng.integers(0, 3, n),
        weight=rng.uniform(0, 1.4, n),
        group=rng.integers(0, 4, n),
    )
    rates = BetaRates(alpha=np.array([4.0, 10.0, 2.0]), beta=np.array([6.0, 10.0, 8.0]), pooled=0.4, kappa=20)
    return deals, rates


def test_kept_outcomes_add_up_to_every_simulations_total():
    deals, rates = _deals()
    nb = NewBusiness(GammaRate(5.0, 10.0), 60.0, 0, amount_mean=5000.0, amount_var=4e6)
    kept = simulate(deals=deals, rates=rates, new_business=nb, realised=12345.0, sims=3000, seed=9, n_groups=4,
                    pace_shape=8.0, keep_outcomes=True)  # fmt: skip
    plain = simulate(deals=deals, rates=rates, new_business=nb, realised=12345.0, sims=3000, seed=9, n_groups=4,
                     pace_shape=8.0)  # fmt: skip
    assert kept.outcomes is not None and kept.outcomes.shape == (300, 3000)
    assert plain.outcomes is None
    np.testing.assert_array_equal(kept.totals, plain.totals)  # keeping them changes no draw
    rebuilt = kept.outcomes.T.astype(float) @ deals.amount + kept.group_new_business + 12345.0
    np.testing.assert_allclose(rebuilt, kept.totals, rtol=1e-6)
    np.testing.assert_allclose(kept.outcomes.mean(axis=1), kept.deal_probability, atol=0.05)


def test_pack_and_unpack_round_trip():
    rng = np.random.default_rng(0)
    sim = StoredSimulation(
        deal_ids=np.arange(5), owner_ids=np.array([1, 1, 2, 0, 2]), amount=rng.uniform(0, 9, 5),
        probability=rng.uniform(0, 1, 5), won=rng.random((5, 1001)) < 0.3, totals=rng.uniform(0, 9, 1001),
        raw_totals=rng.uniform(0, 9, 1001), new_business=rng.uniform(0, 9, 1001),
    )  # fmt: skip
    back = unpack(pack(sim))
    for name in ("deal_ids", "owner_ids", "amount", "probability", "won", "totals", "raw_totals", "new_business"):
        np.testing.assert_array_equal(getattr(back, name), getattr(sim, name))


@pytest.mark.django_db
def test_only_the_latest_runs_keep_their_simulations(personas):
    make_deal(personas.workspace, title="Open", stage="Proposal", amount="50000", owner=personas.rep)
    runs = [forecast_run(workspace=personas.workspace, sims=200) for _ in range(SIMULATIONS_KEPT + 1)]
    kept = set(RunSimulation.objects.values_list("run_id", flat=True))
    assert kept == {r.id for r in runs[1:]}
    assert ForecastRun.objects.filter(workspace=personas.workspace).count() == SIMULATIONS_KEPT + 1
    stored = unpack(RunSimulation.objects.get(run=runs[-1]).data)
    assert stored.sims == 200 and list(stored.amount) == [50000.0]


def test_runs_stored_by_earlier_versions_still_unpack():
    """Earlier versions stored `np.savez_compressed`'s archive at zlib's default level; the same members read back."""
    import io

    rng = np.random.default_rng(1)
    won = rng.random((4, 300)) < 0.4
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, format=np.array([1, 300]), deal_ids=np.arange(4), owner_ids=np.zeros(4, np.int64),
        amount=np.ones(4), probability=np.full(4, 0.4), won=np.packbits(won, axis=1), totals=np.arange(300.0),
        raw_totals=np.arange(300.0), new_business=np.zeros(300),
    )  # fmt: skip
    back = unpack(buffer.getvalue())
    np.testing.assert_array_equal(back.won, won)
    np.testing.assert_array_equal(back.totals, np.arange(300.0))
