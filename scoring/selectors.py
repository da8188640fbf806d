"""Reads of deal scores for other apps (forecasting, alerts, pages)."""

from __future__ import annotations


def deal_win_probabilities(workspace_id: int, deal_ids: list[int] | None = None) -> dict[int, float]:
    """Calibrated win probabilities (0-1) of open deals from the workspace's active scoring model.

    Empty when the workspace has no active model (too little history): callers then use their own
    stage/segment estimates. Implemented by the scoring work; until then no deal has a score.
    """
    return {}
