"""REST endpoints of the scoring app (mounted by vectoros.api)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["scoring"])
