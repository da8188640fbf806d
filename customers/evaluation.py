"""`evaluate_churn`: the churn model judged on rows it never saw, beside the base rate and a logistic baseline.

Two kinds of data, chosen by what the workspace holds:
- subscriptions (dated terms): every renewal decided so far is a row, seen as it stood 60 days before
  its renewal date (point in time: nothing later is used). `--as-of DATE` trains on renewals decided by
  DATE and tests on the renewals decided after it, each seen as of DATE; `--cv K` folds over all decided
  renewals, keeping each subscription's renewals in one fold.
- a customer list with a churn label (a customer CSV): the mapped attributes; only `--cv K` (no dates).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np

from customers import churn
from customers.features import Facts, SubFacts, expansion_signals, renewal_cases, subscription_features, training_rows
from customers.selectors import has_renewal_history, labelled_customers, load_facts
from tenancy.models import Workspace

KEYS = ("n", "auc", "brier", "brier_base_rate", "ece", "baselines")


def churn_data(
    workspace: Workspace, *, until: date | None = None, facts: Facts | None = None
) -> tuple[list[dict[str, Any]], np.ndarray, list[str], list[int] | None]:
    """Training rows, labels, segments and groups (subscription ids, or None for a customer list)."""
    if has_renewal_history(workspace):
        facts = facts or load_facts(workspace)
        cases = renewal_cases(facts, until=until or facts.data_end)
        rows, y, segments, groups = training_rows(facts, cases)
        return rows, y, segments, groups
    rows, y, segments = labelled_customers(workspace)
    return rows, y, segments, None


def churn_evaluate(
    *,
    workspace: Workspace,
    cv: int | None = None,
    as_of: date | None = None,
    seed: int = 0,
    with_heldout: bool = False,
    facts: Facts | None = None,
) -> Any:
    """The figures of `evaluate_churn --json` (and, with `with_heldout`, the held-out predictions too).

    Raises ValueError with a message for a person when the data cannot support the evaluation asked for.
    """
    if as_of is not None:
        held = _heldout_as_of(workspace, as_of, seed, facts)
        extra: dict[str, Any] = {}
    else:
        rows, y, segments, groups = churn_data(workspace, facts=facts)
        if not len(y):
            raise ValueError("no customer has a known outcome (churned or retained) to evaluate on")
        held = churn.heldout_cv(rows, y, segments, cv or 5, seed=seed, groups=groups)
        extra = {}
    found = churn.report(held.y, held.p, held.base, held.logistic, extra)
    return (found, held) if with_heldout else found


HOLDOUT_SHARE = 0.25


def holdout_cut(workspace: Workspace, facts: Facts) -> date | None:
    """For dated renewals, the day that leaves the last quarter of decided renewals to judge a model on (time
    order, as the deal scorer's activation); None for undated data (then cross-validated folds)."""
    if not has_renewal_history(workspace):
        return None
    days = sorted(c.renewal for c in renewal_cases(facts, until=facts.data_end))
    if len(days) < 40:
        return None
    return days[int(len(days) * (1 - HOLDOUT_SHARE))]


def _heldout_as_of(workspace: Workspace, as_of: date, seed: int, facts: Facts | None) -> churn.Heldout:
    if not has_renewal_history(workspace):
        raise ValueError("this workspace's customers have no dated subscriptions; use --cv K instead of --as-of")
    facts = facts or load_facts(workspace)
    if as_of >= facts.data_end:
        raise ValueError(f"--as-of must be before the data's last day ({facts.data_end}) to leave renewals to test on")
    train_cases = renewal_cases(facts, until=as_of)
    rows, y, segments, _ = training_rows(facts, train_cases)
    decided_before = {(c.sub.id, c.renewal) for c in train_cases}
    test_cases = [
        c
        for c in renewal_cases(facts, until=facts.data_end)
        if (c.sub.id, c.renewal) not in decided_before and c.sub.start <= as_of and c.renewal > as_of
    ]
    test_rows = [subscription_features(facts, c.sub, as_of, c.renewal) for c in test_cases]
    return churn.heldout_split(
        rows,
        y,
        segments,
        test_rows,
        np.array([float(c.churned) for c in test_cases]),
        [c.sub.plan or "unknown" for c in test_cases],
        seed=seed,
    )


EXPANSION_HORIZON_DAYS = 180


def expansion_evaluate(
    workspace: Workspace, *, as_of: date, horizon_days: int = EXPANSION_HORIZON_DAYS
) -> dict[str, Any]:
    """Did flagged customers expand? Signals as of `as_of` (history before it only) against what followed within
    `horizon_days`: a subscription started then that is an upgrade or adds ARR beyond the customer's live ARR at
    `as_of`. Precision of the flagged, the rate among the others, and the lift."""
    facts = load_facts(workspace)
    horizon = as_of + timedelta(days=horizon_days)
    by_customer: dict[int, list[SubFacts]] = {}
    for sub in facts.subscriptions:
        by_customer.setdefault(sub.customer_id, []).append(sub)
    flagged: list[bool] = []
    others: list[bool] = []
    for customer, subs in by_customer.items():
        live = [s for s in subs if s.start <= as_of and (s.end is None or s.end >= as_of)]
        if not live:
            continue
        arr_now = sum(s.arr for s in live)
        later = [s for s in subs if as_of < s.start <= horizon]
        arr_later = sum(s.arr for s in subs if s.start <= horizon and (s.end is None or s.end >= horizon))
        expanded = any(s.upgraded for s in later) or arr_later > arr_now * 1.05
        (flagged if expansion_signals(facts, customer, as_of, live) else others).append(expanded)
    rate = float(np.mean(flagged)) if flagged else None
    base = float(np.mean(others)) if others else None
    return {
        "as_of": as_of.isoformat(),
        "horizon_days": horizon_days,
        "flagged": len(flagged),
        "flagged_expanded": int(sum(flagged)),
        "precision": None if rate is None else round(rate, 4),
        "others": len(others),
        "others_expanded": int(sum(others)),
        "base_rate": None if base is None else round(base, 4),
        "lift": None if not rate or not base else round(rate / base, 3),
    }
