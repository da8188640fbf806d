"""Speed benchmark of the scoring core on synthetic arrays: features + scoring of open deals, and training."""

from __future__ import annotations

import json
import time

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from crm.models import Deal
from scoring.features import Changes, RawData, Vocabulary, build_features, training_snapshots
from scoring.model import fit_scorer
from scoring.services import scores_refresh
from tenancy.models import Workspace


def synthetic_raw(n_open: int, n_closed: int, seed: int = 0) -> RawData:
    """A workspace-like bundle with stage/amount/close-date history and activities (synthetic, for timing)."""
    rng = np.random.default_rng(seed)
    n = n_open + n_closed
    created = 19000 + rng.uniform(0, 700, n)
    life = rng.gamma(2.0, 40.0, n)
    quality = rng.normal(0, 1, n)
    outcome = np.zeros(n, dtype=np.int64)
    outcome[n_open:] = np.where(quality[n_open:] + rng.normal(0, 1, n_closed) > 0.3, 1, 2)
    closed = np.where(outcome > 0, created + life, np.nan)
    created[:n_open] = 19700 - life[:n_open]
    stage = np.where(outcome == 1, 5, np.where(outcome == 2, 6, rng.integers(0, 5, n)))
    amount = np.exp(9 + 0.8 * quality + rng.normal(0, 0.6, n))
    moves = rng.integers(0, 4, n)
    d = np.repeat(np.arange(n), moves)
    t = created[d] + rng.uniform(0, 1, len(d)) * np.nan_to_num(life[d])
    stage_hist = Changes.build(
        list(d),
        list(t),
        list(rng.integers(0, 4, len(d)).astype(float)),
        list(rng.integers(0, 5, len(d)).astype(float)),
        [True] * len(d),
    )
    cd = np.flatnonzero(outcome > 0)
    # Closing is itself history: the outcome and the move to a closed stage happen at the close time.
    outcome_hist = Changes.build(
        list(cd), list(closed[cd]), [0.0] * len(cd), list(outcome[cd].astype(float)), [True] * len(cd)
    )
    stage_hist = Changes.build(
        [*stage_hist.deal.tolist(), *cd],
        [*stage_hist.t.tolist(), *closed[cd]],
        [*stage_hist.old.tolist(), *rng.integers(0, 5, len(cd)).astype(float)],
        [*stage_hist.new.tolist(), *stage[cd].astype(float)],
        [True] * (len(d) + len(cd)),
    )
    acts = rng.poisson(6 + 2 * np.clip(quality, -2, 2), n).clip(0)
    ad = np.repeat(np.arange(n), acts)
    at = created[ad] + rng.uniform(0, 1, len(ad)) * np.nan_to_num(life[ad], nan=30)
    return RawData(
        deal_ids=np.arange(1, n + 1),
        created=created,
        closed=closed,
        outcome=outcome,
        owner=rng.integers(0, 40, n),
        company=rng.integers(0, 2000, n),
        stage=stage,
        amount=amount,
        close_date=created + 60,
        probability=np.full(n, np.nan),
        probability_manual=np.zeros(n, dtype=bool),
        initial_amount=amount,
        attributes=[{"segment": ["smb", "mid", "ent"][i % 3]} for i in range(n)],
        stage_order=np.array([0, 0.25, 0.5, 0.75, 1, np.nan, np.nan, np.nan]),
        stage_is_open=np.array([1, 1, 1, 1, 1, 0, 0, 0], dtype=bool),
        history={"stage": stage_hist, "outcome": outcome_hist},
        act_deal=ad,
        act_t=at,
        act_kind=rng.integers(0, 5, len(ad)),
        act_inbound=rng.random(len(ad)) < 0.4,
    )


class Command(BaseCommand):
    help = "Time scoring 5,000 open deals (features included) and training on 10,000 closed deals."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--open", type=int, default=5000)
        parser.add_argument("--closed", type=int, default=10000)
        parser.add_argument(
            "--workspace",
            help="also time a full refresh of this workspace's scores from the database (load, features, store)",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        raw = synthetic_raw(options["open"], options["closed"])
        t0 = time.perf_counter()
        snaps = training_snapshots(raw)
        vocabulary = Vocabulary.fit(raw.attributes)
        x, names = build_features(raw, snaps.deal, snaps.t, vocabulary)
        scorer = fit_scorer(x, snaps.y, snaps.weight, snaps.deal, snaps.closed, names, vocabulary)
        train_s = time.perf_counter() - t0
        open_idx = np.flatnonzero(raw.outcome == 0)
        t1 = time.perf_counter()
        xo, _ = build_features(raw, open_idx, np.full(len(open_idx), 19700.0), vocabulary)
        p = scorer.predict(xo)
        scorer.explain(xo)
        score_s = time.perf_counter() - t1
        result = {
            "open_deals": len(open_idx),
            "score_seconds": round(score_s, 3),
            "score_target_seconds": 1.0,
            "closed_deals": int(options["closed"]),
            "training_rows": len(snaps.y),
            "train_seconds": round(train_s, 2),
            "train_target_seconds": 60.0,
            "model": scorer.kind,
            "mean_probability": round(float(p.mean()), 4),
            "note": (
                "score_seconds and train_seconds: the core (features, model, explanations) on synthetic arrays; "
                "--workspace adds a full refresh from the database"
            ),
        }
        if options["workspace"]:
            result["database"] = _time_refresh(options["workspace"])
        self.stdout.write(json.dumps(result, indent=2) if options["json"] else str(result))


def _time_refresh(slug: str) -> dict:
    """Scores of every open deal refreshed from the database: load, features, model, explanations and COPY."""
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise CommandError(f"No workspace with slug {slug!r}.")
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        scored = scores_refresh(workspace_id=workspace.id)
        timings.append(time.perf_counter() - started)
    if scored == 0:
        raise CommandError(f"{slug} has no active scoring model or no open deals: run train_scorer first.")
    return {
        "workspace": slug,
        "open_deals": Deal.objects.for_workspace(workspace).open().count(),
        "scored": scored,
        "refresh_seconds": [round(t, 3) for t in timings],
        "best_seconds": round(min(timings), 3),
    }
