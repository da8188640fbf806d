"""Background jobs of the similarity app (django-q2). They take ids, reload, and call a service."""

from __future__ import annotations

import logging

from similarity.services import deal_embeddings_refresh
from tenancy.jobs import enqueue_coalesced

logger = logging.getLogger(__name__)

HANDLER = "similarity.tasks.on_deals_changed"
# Deals per run: an import or the demo seeder changes thousands at once, and one run of that size
# would hold the single worker for minutes while other apps' jobs wait.
CHUNK = 256


def on_deals_changed(workspace_id: int, deal_ids: list[int]) -> None:
    """Listed in settings.DEAL_CHANGE_HANDLERS: re-embed the changed deals whose text changed.

    Coalesced per workspace by tenancy.jobs, so a burst of edits is one run; the text hash makes a
    re-run (or a change that does not touch the text, e.g. the amount) do nothing. A large batch is
    done CHUNK deals at a time, the rest queued again under the same key.
    """
    ids = sorted(set(deal_ids))
    now, rest = ids[:CHUNK], ids[CHUNK:]
    result = deal_embeddings_refresh(workspace_id=workspace_id, deal_ids=now)
    if rest:
        enqueue_coalesced(key=f"{HANDLER}:{workspace_id}", func=HANDLER, head_args=[workspace_id], ids=rest)
    if result.embedded:
        logger.info(
            "embedded %s deal(s) of workspace %s in %.2fs (%s still queued)",
            result.embedded,
            workspace_id,
            result.seconds,
            len(rest),
        )
