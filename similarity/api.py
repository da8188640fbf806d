"""REST endpoints of the similarity app (mounted by vectoros.api)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["similarity"])
