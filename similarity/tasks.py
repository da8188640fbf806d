"""Background jobs of the similarity app (django-q2). They take ids, reload, and call a service."""

from __future__ import annotations

import logging

from similarity.services import deal_embeddings_refresh

logger = logging.getLogger(__name__)


def on_deals_changed(workspace_id: int, deal_ids: list[int]) -> None:
    """Listed in settings.DEAL_CHANGE_HANDLERS: re-embed the changed deals whose text changed.

    Coalesced per workspace by tenancy.jobs, so a burst of edits is one run; the text hash makes a
    re-run (or a change that does not touch the text, e.g. the amount) do nothing.
    """
    result = deal_embeddings_refresh(workspace_id=workspace_id, deal_ids=deal_ids)
    if result.embedded:
        logger.info("embedded %s deal(s) of workspace %s in %.2fs", result.embedded, workspace_id, result.seconds)
