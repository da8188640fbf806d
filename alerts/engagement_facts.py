"""Deal facts from captured signals (crm.engagement rows), as of a moment: only what had happened by then."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from crm import engagement


def captured_facts(
    workspace_id: int, as_of: datetime, index: dict[int, int], recent_days: float
) -> dict[str, np.ndarray]:
    """`buyer_cooling` and `no_show_unanswered` per deal slot of `index` (all False without captured signals)."""
    n = len(index)
    cooling, no_show = np.zeros(n, bool), np.zeros(n, bool)
    since = as_of - timedelta(days=recent_days)
    last_inbound: dict[int, tuple[datetime, float]] = {}
    last_no_show: dict[int, datetime] = {}
    for deal_id, at, name, value in engagement.signal_rows(workspace_id):
        if deal_id not in index or at > as_of:
            continue
        if name == "inbound" and (deal_id not in last_inbound or at >= last_inbound[deal_id][0]):
            last_inbound[deal_id] = (at, value)
        elif name == "meeting_no_show" and at > since and (deal_id not in last_no_show or at > last_no_show[deal_id]):
            last_no_show[deal_id] = at
    for deal_id, (at, value) in last_inbound.items():
        cooling[index[deal_id]] = value > 0 and at > since
    for deal_id, at in last_no_show.items():
        no_show[index[deal_id]] = deal_id not in last_inbound or last_inbound[deal_id][0] < at
    return {"buyer_cooling": cooling, "no_show_unanswered": no_show}
